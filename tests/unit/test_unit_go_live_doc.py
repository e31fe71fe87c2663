"""docs/go-live.md, the go-live runbook, stays true: its 13 sections in the checklist's order, a command block in
each, and every `make` target, repository path, pytest node and template name it gives exists."""

from __future__ import annotations

import re
from typing import Any

import pytest

from local.template import ROOT, load_template

DOC = (ROOT / "docs" / "go-live.md").read_text()
TEMPLATE: dict[str, Any] = load_template()

SECTIONS = [
    (1, "Preconditions"),
    (2, "Required Secrets and Env (Production)"),
    (3, "Resource Bindings (Production)"),
    (4, "Database Migrations"),
    (5, "Stripe Webhook & Billing"),
    (6, "Security & Middleware"),
    (7, "CSP & Asset Serving"),
    (8, "Rate Limiting"),
    (9, "Entitlements & Quotas"),
    (10, "Post-Deploy Smoke (Production)"),
    (11, "Monitoring & Troubleshooting"),
    (12, "Rollback"),
    (13, "E2E Recording (E2E_RECORD)"),
]
# Named by the runbook as template parameters, outputs and resources (monitoring, rollback, the custom domain).
PARAMETERS = ("AlarmTopicArn", "AlarmEmail", "DeploymentType", "SubnetsHaveInternetEgress", "CustomDomainName",
              "CustomDomainCertificateArn", "CustomDomainHostedZoneId")
OUTPUTS = ("ApiUrl", "CustomDomainUrl", "TableName", "BucketName", "StateMachineArn", "UserPoolId", "AlarmTopicArn",
           "DashboardName")
ALARMS = ("ReplicateErrorsAlarm", "Api5xxAlarm", "RateLimitedAlarm", "JobWorkflowFailedAlarm",
          "JobWorkflowTimedOutAlarm", "ProviderNotConfiguredAlarm", "StripeUnknownPriceAlarm", "StuckJobsAlarm")
ROLLBACK_ALARMS = ("FunctionErrorsAlarm1", "FunctionErrorsAlarm2", "FunctionErrorsAlarm3", "FunctionErrorsAlarm4",
                   "UnhandledErrorsAlarm", "JobWorkflowFailedAlarm")
# Created by the SAM transform (DeploymentPreference), so in the deployed stack but not in template.yaml.
GENERATED_BY_SAM = frozenset({"ServerlessDeploymentApplication"})

_FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_HEADING = re.compile(r"^## (.+)$", re.MULTILINE)
_SECTION = re.compile(r"^(\d+)\. (.+)$")


def _sections() -> list[tuple[str, str]]:
    """(heading, body) of every `## ` section, in order."""
    found = list(_HEADING.finditer(DOC))
    ends = [match.start() for match in found[1:]] + [len(DOC)]
    return [(match.group(1).strip(), DOC[match.end():end]) for match, end in zip(found, ends, strict=True)]


def _fenced(text: str = DOC) -> list[tuple[str, str]]:
    """(info string, content) of every fenced block."""
    return [(match.group(1), match.group(2)) for match in _FENCE.finditer(text)]


def _code() -> list[str]:
    """Everything written as code: fenced blocks and inline code spans."""
    prose = _FENCE.sub("", DOC)
    return [content for _, content in _fenced()] + re.findall(r"`([^`\n]+)`", prose)


def _makefile_targets() -> set[str]:
    targets = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        rule = re.match(r"^([A-Za-z0-9_. -]+):(?!=)", line)
        if rule and not line.startswith((".", "\t")):
            targets.update(rule.group(1).split())
    return targets


def _mentioned(pattern: str) -> set[str]:
    return set(re.findall(pattern, DOC))


def test_it_has_the_13_sections_of_the_checklist_in_order_with_their_titles():
    headings = [_SECTION.match(heading) for heading, _ in _sections()]
    numbered = [(int(match.group(1)), match.group(2)) for match in headings if match]

    assert numbered == SECTIONS


@pytest.mark.parametrize(("number", "title"), SECTIONS)
def test_every_section_gives_a_command_block(number, title):
    body = dict(_sections())[f"{number}. {title}"]

    assert any(info in ("bash", "sh", "shell") and content.strip() for info, content in _fenced(body)), title


def test_every_make_target_it_names_is_in_the_makefile():
    named = {target for code in _code() for target in re.findall(r"(?<![\w/.-])make\s+([a-z][\w-]*)", code)}

    assert named, "the runbook names no make target"
    assert named <= _makefile_targets(), sorted(named - _makefile_targets())


def test_every_repository_path_it_names_exists():
    paths = {path for code in _code()
             for path in re.findall(r"(?<![\w/.$-])((?:tests|ops|events|docs|layers|functions)/[\w./-]*)", code)}

    assert paths, "the runbook names no repository path"
    assert [path for path in sorted(paths) if not (ROOT / path.rstrip(".")).exists()] == []


def test_every_pytest_node_it_names_is_a_test_of_its_file():
    nodes = {node for code in _code() for node in re.findall(r"(tests/[\w./-]+\.py)::(\w+)", code)}

    assert nodes
    missing = [f"{path}::{name}" for path, name in sorted(nodes)
               if not re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.MULTILINE)]
    assert missing == []


def test_every_alarm_and_function_it_names_is_a_resource_of_the_template():
    named = _mentioned(r"\b([A-Z][A-Za-z0-9]+(?:Alarm|Function))\b")

    assert named
    assert sorted(named - set(TEMPLATE["Resources"])) == []


def test_every_resource_it_looks_up_and_output_it_reads_is_in_the_template():
    resources = _mentioned(r"\bres ([A-Z]\w+)") | {"AlarmTopic", "OperationsDashboard", "SchemaMigrations"}
    outputs = _mentioned(r"\bout ([A-Z]\w+)") | set(OUTPUTS)

    assert sorted(resources - GENERATED_BY_SAM - set(TEMPLATE["Resources"])) == []
    assert sorted(outputs - set(TEMPLATE.get("Outputs", {}))) == []


@pytest.mark.parametrize("parameter", PARAMETERS)
def test_the_parameters_it_names_are_parameters_of_the_template(parameter):
    assert f"`{parameter}`" in DOC
    assert parameter in TEMPLATE["Parameters"]


@pytest.mark.parametrize("alarm", ALARMS)
def test_monitoring_names_every_alarm(alarm):
    monitoring = dict(_sections())["11. Monitoring & Troubleshooting"]

    assert f"`{alarm}`" in monitoring


def test_the_rollback_alarms_it_names_are_the_ones_the_canary_watches():
    rollback = dict(_sections())["12. Rollback"]
    globals_ = TEMPLATE["Globals"]["Function"]
    watched = [alarm.get("Ref") for alarm in globals_["DeploymentPreference"]["Alarms"]]

    assert globals_["AutoPublishAlias"] == "live" and "alias `live`" in rollback
    assert sorted(watched) == sorted(ROLLBACK_ALARMS)
    assert all(f"`{alarm}`" in rollback for alarm in ROLLBACK_ALARMS)


def test_it_explains_itself_without_the_old_systems_files():
    for foreign in ("/work/", "wrangler", "src/", ".ts`", "test-suite-v2", "npx "):
        assert foreign not in DOC, foreign

