//! `cargo bench -p handler-bench`: the handler's own overhead per event with in-memory fakes
//! (see the crate's doc for what one event is). `make bench` runs it and reads criterion's
//! `handler/<function>/<kind>/new/estimates.json` into docs/benchmarks.md.
//!
//! Each case is run once and checked before it is timed, and every timed event's report is
//! checked after the clock stops; a case that does not end as its name says stops the bench.

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, criterion_group, criterion_main};
use handler_bench::Function;
use unthrottle::core::ports::{Apply, Describe, Diagnose};
use unthrottle::core::service::Service;

fn bench<S, R>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtime: &tokio::runtime::Runtime,
    function: &Function<S, R>,
) where
    S: Service,
    R: Describe<S> + Diagnose<S> + Apply<S>,
{
    for &kind in function.kinds {
        if let Err(why) = runtime.block_on(function.check(kind)) {
            panic!("{} {}: {why}", function.name, kind.id());
        }
        group.bench_function(BenchmarkId::new(function.name, kind.id()), |b| {
            b.iter_custom(|iters| {
                runtime
                    .block_on(function.timed(kind, iters))
                    .unwrap_or_else(|why| panic!("{} {}: {why}", function.name, kind.id()))
            });
        });
    }
}

fn handler(c: &mut Criterion) {
    // The functions' own log subscriber (level and format from Lambda's variables), so each
    // result line is formatted as in Lambda; written to a sink, not to the bench's output.
    unthrottle::logging::init_with_writer(std::io::sink);
    // The functions' runtime (`#[tokio::main(flavor = "current_thread")]`): one thread.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let mut group = c.benchmark_group("handler");
    bench(&mut group, &runtime, &handler_bench::dynamodb());
    bench(&mut group, &runtime, &handler_bench::kinesis());
    bench(&mut group, &runtime, &handler_bench::api());
    let sweep = runtime
        .block_on(handler_bench::restore_sweep())
        .unwrap_or_else(|why| panic!("restore sweep: {why}"));
    if let Err(why) = runtime.block_on(sweep.check()) {
        panic!("restore sweep: {why}");
    }
    group.bench_function(BenchmarkId::new("restore", "sweep"), |b| {
        b.iter_custom(|iters| {
            runtime
                .block_on(sweep.timed(iters))
                .unwrap_or_else(|why| panic!("restore sweep: {why}"))
        });
    });
    group.finish();
}

// Short: fifteen cases at microseconds each settle within a second or two, and `make bench` runs
// them all.
criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    targets = handler
}
criterion_main!(benches);
