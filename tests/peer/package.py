"""Packages tests/peer/policy.yml as Cloud Custodian deploys it, for `make bench-peer`.

Usage: package.py POLICY TASK_DIR BOOTSTRAP

The policy is loaded and validated by Custodian itself, and its Lambda archive is built by
Custodian's own packager (c7n.mu.PolicyLambda, what `custodian run` uploads); the task
directory gets the archive's `config.json` (the policy and its execution options) and
`custodian_policy.py` (the handler module, calling c7n.handler.dispatch_event). The archive's
copy of the c7n sources is left out: the venv's c7n is the same version with its bytecode
compiled at install, which spares the peer the compiling Lambda would do on every cold start
(its archive has no .pyc and /var/task is read-only), so the bench does not inflate its figure.
`bootstrap` is tests/peer/bootstrap.py under a first line naming this interpreter.
"""

import io
import os
import stat
import sys
import zipfile

from c7n import mu
from c7n.config import Config
from c7n.policy import load


def main(policy_path, task, bootstrap):
    policies = list(load(Config.empty(), policy_path))
    if len(policies) != 1 or policies[0].execution_mode != "cloudtrail":
        sys.exit(f"{policy_path}: expected one cloudtrail-mode policy")
    policies[0].validate()
    archive = mu.PolicyLambda(policies[0]).get_archive()
    os.makedirs(task, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(archive.get_bytes())) as packaged:
        for name in ("config.json", "custodian_policy.py"):
            with open(os.path.join(task, name), "wb") as out:
                out.write(packaged.read(name))
    target = os.path.join(task, "bootstrap")
    with open(bootstrap) as source, open(target, "w") as out:
        out.write(f"#!{sys.executable}\n")
        out.write(source.read())
    os.chmod(target, os.stat(target).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    print(f"peer: {policies[0].name} packaged in {task}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
