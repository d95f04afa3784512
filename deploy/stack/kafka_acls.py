"""A region's access to the exchange: its inbox topic, SCRAM principal and ACLs.

Each region authenticates as `User:region-<code>` and may
- READ its own inbox topic and its own consumer group (`tongban-node-<code>`), nothing else;
- WRITE to every inbox topic (one PREFIXED ACL on `tongban.inbox.`, so regions that join
  later are covered without touching existing principals) except its own (a LITERAL DENY:
  in Kafka a DENY always wins over an ALLOW).

The plan is computed here and applied by `deploy/kafka/RegionAccess.java` through Kafka's
Admin API (aiokafka's admin client has no ACL or SCRAM calls), in one JVM, with the password
passed on stdin.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from deploy.stack.kafka import DEPLOY_DIR, INBOX_PARTITIONS, KafkaPaths, _java, ensure_libs
from events.topics import consumer_group, inbox_topic

INBOX_PREFIX = inbox_topic("")
SCRAM_MECHANISM = "SCRAM-SHA-512"
_PROGRAM = DEPLOY_DIR / "RegionAccess.java"
_REGION = re.compile(r"^\d{6}$")


class RegionAccessError(RuntimeError):
    """The Admin API refused the plan (unreachable broker, not authorized, bad config)."""


def principal_name(region: str) -> str:
    """The SCRAM user name; the ACL principal is `User:<this>`."""
    return f"region-{region}"


@dataclass(frozen=True)
class AclRule:
    permission: str  # ALLOW | DENY
    operation: str  # READ | WRITE | DESCRIBE ...
    resource_type: str  # TOPIC | GROUP
    pattern_type: str  # LITERAL | PREFIXED
    resource: str
    principal: str

    def instruction(self) -> str:
        return (
            f"acl {self.permission} {self.operation} {self.resource_type} "
            f"{self.pattern_type} {self.resource} {self.principal}"
        )


@dataclass(frozen=True)
class TopicSpec:
    """How inbox topics are created: RF 1 on the local broker; RF 3 with
    min.insync.replicas=2 on a production exchange."""

    partitions: int = INBOX_PARTITIONS
    replication_factor: int = 1
    configs: Mapping[str, str] = field(default_factory=dict)

    def instruction(self, name: str) -> str:
        extra = "".join(f" {key}={value}" for key, value in sorted(self.configs.items()))
        return f"topic {name} {self.partitions} {self.replication_factor}{extra}"


def region_acls(region: str) -> tuple[AclRule, ...]:
    user = f"User:{principal_name(region)}"
    own = inbox_topic(region)
    return (
        AclRule("ALLOW", "READ", "TOPIC", "LITERAL", own, user),
        AclRule("ALLOW", "READ", "GROUP", "LITERAL", consumer_group(region), user),
        AclRule("ALLOW", "WRITE", "TOPIC", "PREFIXED", INBOX_PREFIX, user),
        # A node never writes to its own inbox; a compromised one must not forge "incoming"
        # events for itself that bypass the sender's signature path either.
        AclRule("DENY", "WRITE", "TOPIC", "LITERAL", own, user),
    )


def access_plan(region: str, password: str | None, topic: TopicSpec = TopicSpec()) -> str:
    """The instructions for RegionAccess.java (contains the password: never log it)."""
    if not _REGION.match(region):
        raise ValueError(f"region codes are 6-digit GB/T 2260 codes, got {region!r}")
    lines = [topic.instruction(inbox_topic(region))]
    if password is not None:
        if not password or "\n" in password or "\r" in password:
            raise ValueError("a SCRAM password must be non-empty and on one line")
        lines.append(f"scram {principal_name(region)} {password}")
    lines += [rule.instruction() for rule in region_acls(region)]
    return "\n".join(lines) + "\n"


def apply_plan(
    libs: Path, bootstrap: str, plan: str, command_config: Path | None = None
) -> list[str]:
    """Run the plan in one JVM; returns its report lines (no secrets in them)."""
    cmd = [_java(), "-cp", f"{libs}/*", str(_PROGRAM), bootstrap]
    if command_config is not None:
        cmd.append(str(command_config))
    done = subprocess.run(cmd, input=plan, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        # stderr is the JVM's exception; the plan (with the password) is never echoed.
        raise RegionAccessError(f"RegionAccess failed ({done.returncode}):\n{done.stderr}")
    return done.stdout.splitlines()


def join_regions(
    state_dir: Path,
    bootstrap: str,
    passwords: Mapping[str, str | None],
    *,
    topic: TopicSpec = TopicSpec(),
    command_config: Path | None = None,
) -> list[str]:
    """Create (or confirm) each region's inbox topic, SCRAM credentials and ACLs, in one JVM
    (a JVM start costs seconds). A `None` password leaves existing credentials alone."""
    paths = KafkaPaths.under(state_dir)
    paths.root.mkdir(parents=True, exist_ok=True)
    ensure_libs(paths)
    plan = "".join(access_plan(region, pw, topic) for region, pw in passwords.items())
    return apply_plan(paths.libs, bootstrap, plan, command_config)


def local_password(state_dir: Path, region: str) -> str:
    """The local stack's password for a region: made once, kept 0600 under the state dir."""
    path = password_path(state_dir, region)
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    password = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    return password


def password_path(state_dir: Path, region: str) -> Path:
    return state_dir / "kafka" / "credentials" / f"{principal_name(region)}.password"
