//! Responses for aws-smithy-mocks, as DynamoDB writes them, and mock clients.

use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use serde_json::{Value, json};

/// An HTTP response with a JSON body.
pub fn http(status: u16, body: Value) -> Response {
    Response::new(
        StatusCode::try_from(status).expect("a valid status"),
        SdkBody::from(body.to_string()),
    )
}

/// DescribeTable for the provisioned, ACTIVE table `orders` with 5 RCU and this many WCU.
pub fn described_table(write: i64) -> Response {
    http(
        200,
        json!({"Table": {
            "TableName": "orders",
            "TableArn": "arn:aws:dynamodb:us-east-1:123456789012:table/orders",
            "TableStatus": "ACTIVE",
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": write, "NumberOfDecreasesToday": 0},
            "TableSizeBytes": 0, "ItemCount": 0,
            "DeletionProtectionEnabled": false
        }}),
    )
}

/// A DynamoDB error answer with this AWS error code.
pub fn dynamodb_error(status: u16, code: &str, message: &str) -> Response {
    http(
        status,
        json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{code}"), "message": message}),
    )
}

/// A CloudWatch client whose GetMetricData answers with no data at all, as for a table
/// that has published none yet: the diagnosis finds no cause and the planner takes the
/// `SCALE_FACTOR` step.
pub fn cloudwatch_without_data() -> aws_sdk_cloudwatch::Client {
    use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    let empty = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .then_output(|| GetMetricDataOutput::builder().build());
    mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&empty])
}

/// An Application Auto Scaling client that lists no scalable targets: no side of any table
/// is auto-scaled.
pub fn no_auto_scaling() -> aws_sdk_applicationautoscaling::Client {
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    let none = mock!(aws_sdk_applicationautoscaling::Client::describe_scalable_targets)
        .then_http_response(|| http(200, json!({"ScalableTargets": []})));
    mock_client!(aws_sdk_applicationautoscaling, RuleMode::MatchAny, [&none])
}

/// The DynamoDB adapter over `dynamodb` (mocked), with CloudWatch holding no data and no
/// auto scaling: what most SDK-mock tests of the table path need.
pub fn tables(dynamodb: aws_sdk_dynamodb::Client) -> unthrottle::dynamodb::SdkTables {
    unthrottle::dynamodb::SdkTables::new(dynamodb, cloudwatch_without_data(), no_auto_scaling())
}
