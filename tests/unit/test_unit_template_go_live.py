"""template.yaml against the go-live checklist (docs/go-live.md): alarms that watch what the code emits, a canary
with rollback alarms on every function, IAM without wildcard actions, a private bucket, no secret values in the
template or samconfig.toml, and the network rule for functions in the VPC that call the internet."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = sorted(name for name, resource in RESOURCES.items() if resource["Type"] == "AWS::Serverless::Function")
ALARMS = {name: resource["Properties"] for name, resource in RESOURCES.items()
          if resource["Type"] == "AWS::CloudWatch::Alarm"}
GLOBALS = TEMPLATE["Globals"]["Function"]

# Checklist §11, one alarm per watched condition.
MONITORING_ALARMS = {"ReplicateErrorsAlarm", "Api5xxAlarm", "RateLimitedAlarm", "JobWorkflowFailedAlarm",
                     "JobWorkflowTimedOutAlarm", "ProviderNotConfiguredAlarm", "StripeUnknownPriceAlarm",
                     "StuckJobsAlarm"}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            yield node["Ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every IAM statement anywhere in the template, each branch of an `Fn::If` included."""
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            yield node
        for value in node.values():
            yield from _statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from _statements(value)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ---------------------------------------------------------------- monitoring


def test_the_checklist_alarms_exist():
    assert set(ALARMS) >= MONITORING_ALARMS


@pytest.mark.parametrize("alarm", sorted(ALARMS))
def test_every_alarm_notifies_the_alarm_topic_into_alarm_and_back(alarm):
    topic = [{"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}]

    assert topic == ALARMS[alarm]["AlarmActions"] == ALARMS[alarm]["OKActions"]
    assert ALARMS[alarm]["TreatMissingData"] == "notBreaching"


def test_the_alarm_topic_is_a_parameter_or_the_stacks_own():
    assert TEMPLATE["Parameters"]["AlarmTopicArn"]["Default"] == ""
    assert RESOURCES["AlarmTopic"]["Condition"] == "CreateAlarmTopic"


APPLICATION_ALARMS = sorted(name for name, props in ALARMS.items() if props.get("Namespace") == "Enhancer")


@pytest.mark.parametrize("alarm", APPLICATION_ALARMS)
def test_an_application_alarm_watches_a_metric_the_code_emits(alarm):
    """A renamed metric would leave its alarm silent for ever."""
    metric = ALARMS[alarm]["MetricName"]
    code = "\n".join(path.read_text() for path in (ROOT / "layers/core/enhancer").rglob("*.py"))

    assert f'add_metric(name="{metric}"' in code
    assert ALARMS[alarm]["Dimensions"] == [{"Name": "service", "Value": "enhancer"}]


def test_the_dashboard_shows_every_alarm():
    body = RESOURCES["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]

    for alarm in ALARMS:
        if alarm in MONITORING_ALARMS or alarm == "UnhandledErrorsAlarm":
            assert "${" + alarm + ".Arn}" in body, alarm


# ---------------------------------------------------------------- canary and rollback


def test_every_function_publishes_a_live_alias_moved_by_codedeploy():
    assert GLOBALS["AutoPublishAlias"] == "live"
    assert GLOBALS["DeploymentPreference"]["Type"] == {"Ref": "DeploymentType"}
    for function in FUNCTIONS:
        properties = RESOURCES[function]["Properties"]
        assert "AutoPublishAlias" not in properties and "DeploymentPreference" not in properties, function


def test_every_function_is_watched_by_a_rollback_alarm_of_its_canary():
    rollback = list(_refs(GLOBALS["DeploymentPreference"]["Alarms"]))
    watched = {ref for alarm in rollback if alarm.startswith("FunctionErrorsAlarm")
               for ref in _refs(ALARMS[alarm]["Metrics"])}

    assert watched == set(FUNCTIONS)
    assert {"UnhandledErrorsAlarm", "JobWorkflowFailedAlarm"} <= set(rollback)
    for alarm in rollback:
        metrics = ALARMS[alarm].get("Metrics", [])
        assert len([query for query in metrics if "MetricStat" in query]) <= 10, alarm  # CloudWatch's limit


def test_the_state_machine_invokes_the_task_aliases():
    substitutions = RESOURCES["EnhanceJobStateMachine"]["Properties"]["DefinitionSubstitutions"]

    assert all(value == {"Ref": f"{name.removesuffix('Arn')}.Alias"} for name, value in substitutions.items())


def test_no_rollback_alarm_depends_on_what_invokes_the_aliases():
    """The API and the state machine depend on the aliases; an alarm naming either would be a cycle."""
    for alarm in _refs(GLOBALS["DeploymentPreference"]["Alarms"]):
        text = repr(ALARMS[alarm])
        assert "HttpApi" not in text and "EnhanceJobStateMachine" not in text, alarm


# ---------------------------------------------------------------- IAM, bucket, secrets


def test_no_statement_allows_a_wildcard_action():
    for statement in _statements(RESOURCES):
        if statement["Effect"] == "Allow":
            assert "NotAction" not in statement, statement
            for action in _as_list(statement["Action"]):
                assert "*" not in action, statement


def test_the_bucket_is_not_public():
    bucket = RESOURCES["ImagesBucket"]["Properties"]
    policy = RESOURCES["ImagesBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]

    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert all(statement["Effect"] == "Deny" for statement in policy if statement.get("Principal") == "*")


SECRET_VALUE = re.compile(r"sk_(live|test)_[0-9A-Za-z]{8,}|rk_(live|test)_[0-9A-Za-z]{8,}|whsec_[0-9A-Za-z+/=]{16,}"
                          r"|r8_[0-9A-Za-z]{20,}|AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY|[0-9a-f]{64}")


@pytest.mark.parametrize("path", ["template.yaml", "samconfig.toml"])
def test_no_secret_value_is_written_in_the_deploy_configuration(path):
    assert not SECRET_VALUE.search((ROOT / path).read_text())


def _environment_names() -> Iterator[str]:
    yield from GLOBALS["Environment"]["Variables"]
    for function in FUNCTIONS:
        yield from RESOURCES[function]["Properties"].get("Environment", {}).get("Variables", {})


def test_a_secret_reaches_a_function_by_name_never_by_value():
    for name in _environment_names():
        if re.search(r"SECRET|TOKEN|PASSWORD|API_KEY", name):
            assert name.endswith("_PARAMETER"), name
    for name in ("OwnerKeySecretParameter", "ReplicateTokenParameter", "ReplicateWebhookSecretParameter",
                 "StripeSecretParameter", "StripeWebhookSecretParameter"):
        # An SSM parameter's name, never the secret itself.
        assert TEMPLATE["Parameters"][name]["AllowedPattern"].startswith(("^/", "^(/")), name


def test_the_database_password_exists_only_in_secrets_manager():
    cluster = RESOURCES["DatabaseCluster"]["Properties"]

    resolved = "{{resolve:secretsmanager:${DatabaseSecret}:SecretString:password}}"
    assert cluster["MasterUserPassword"] == {"Fn::Sub": resolved}
    assert "GenerateSecretString" in RESOURCES["DatabaseSecret"]["Properties"]


# ---------------------------------------------------------------- the network as AWS enforces it

# What reaches the internet, read from what the template gives a function: Replicate's token (generate, the
# sweeper that cancels predictions), the workflow's tasks (they also fetch results from Replicate's delivery
# host), Stripe's secret, and Cognito's domain (the token endpoint and its keys).
INTERNET_CREDENTIALS = ("ReplicateTokenParameter", "StripeSecretParameter")


def _calls_the_internet(function: str) -> bool:
    properties = RESOURCES[function]["Properties"]
    granted = repr(properties.get("Policies", []))
    variables = properties.get("Environment", {}).get("Variables", {})
    workflow = RESOURCES["EnhanceJobStateMachine"]["Properties"]["DefinitionSubstitutions"].values()
    return (any("${" + credential + "}" in granted for credential in INTERNET_CREDENTIALS)
            or "COGNITO_DOMAIN" in variables
            or {"Ref": f"{function}.Alias"} in workflow)


def _in_the_vpc(function: str) -> bool:
    return "VpcConfig" in RESOURCES[function]["Properties"] or "VpcConfig" in GLOBALS


INTERNET_CALLERS = sorted(function for function in FUNCTIONS if _calls_the_internet(function))


def test_the_derivation_finds_the_functions_that_call_each_service():
    assert {"GenerateFunction", "JobStartFunction", "JobFinishFunction", "JobSweeperFunction"} <= set(INTERNET_CALLERS)
    assert {"BillingSessionFunction", "BillingCreditsFunction", "BillingPortalFunction",
            "AuthAccountFunction"} <= set(INTERNET_CALLERS)
    assert {"AuthCallbackFunction", "AuthLoginFunction"} <= set(INTERNET_CALLERS)
    assert "ModelsFunction" not in INTERNET_CALLERS and "StripeWebhookFunction" not in INTERNET_CALLERS


def test_functions_in_the_vpc_that_call_the_internet_require_subnets_with_internet_egress():
    in_the_vpc = [function for function in INTERNET_CALLERS if _in_the_vpc(function)]
    egress = TEMPLATE["Parameters"].get("SubnetsHaveInternetEgress")

    assert in_the_vpc, "no internet caller in the VPC: the rule below would not be needed"
    assert egress is not None and "Default" not in egress and egress["AllowedValues"] == ["true"]
    assert "SubnetsHaveInternetEgress" in (ROOT / "Makefile").read_text()  # the lint passes it as a deploy must
    readme = (ROOT / "README.md").read_text()
    network = readme[readme.index("\n### Network"):]
    network = network[:network.find("\n#", 1)]
    assert "SubnetsHaveInternetEgress" in network and "NAT gateway" in network and "$" in network
