"""template.yaml's relational store (docs/architecture.md, "The relational store"): `DatabaseEngine` chooses
SQLite on EFS or Aurora PostgreSQL behind RDS Proxy, and the Aurora variant is locked down the way the go-live
checklist asks (only the functions reach the proxy, only the proxy the cluster, TLS, encryption, backups,
deletion protection in production, a password that exists only in Secrets Manager)."""

from __future__ import annotations

from typing import Any

import pytest

from local.template import load_template

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
SQL_FUNCTIONS = sorted(name for name, resource in RESOURCES.items()
                       if resource["Type"] == "AWS::Serverless::Function"
                       and {"Ref": "DatabaseAccessPolicy"} in resource["Properties"].get("Policies", []))


def test_the_engine_is_a_parameter_with_sqlite_on_efs_by_default():
    engine = TEMPLATE["Parameters"]["DatabaseEngine"]

    assert engine["Default"] == "sqlite-efs" and engine["AllowedValues"] == ["sqlite-efs", "aurora-postgresql"]


def test_the_database_url_names_the_secret_never_a_password():
    url = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["DATABASE_URL"]["Fn::If"]

    assert url[0] == "UsesSqliteOnEfs" and url[1] == "sqlite:////mnt/data/enhancer.db"
    assert url[2]["Fn::Sub"] == ("postgresql://${DatabaseUserName}@${DatabaseProxy.Endpoint}:5432/${DatabaseName}"
                                 "?credentials=${DatabaseSecret}&sslmode=verify-full")


def test_every_aurora_resource_exists_only_with_aurora():
    aurora = [name for name, resource in RESOURCES.items() if resource["Type"].startswith("AWS::RDS::")]

    assert {"DatabaseCluster", "DatabaseInstance", "DatabaseProxy", "DatabaseProxyTargetGroup",
            "DatabaseSubnetGroup"} <= set(aurora)
    for name in [*aurora, "DatabaseSecret", "DatabaseProxyRole", "DatabaseSecretAttachment"]:
        assert RESOURCES[name]["Condition"] == "UsesAurora", name


def test_the_efs_file_system_stays_whichever_engine_so_switching_never_deletes_its_data():
    for name in ("DataFileSystem", "DataAccessPoint", "DataMountTargetA", "DataMountTargetB"):
        assert "Condition" not in RESOURCES[name], name
    assert RESOURCES["DataFileSystem"]["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize("function", SQL_FUNCTIONS)
def test_a_function_on_the_sql_store_mounts_efs_only_with_sqlite(function):
    mounts = RESOURCES[function]["Properties"]["FileSystemConfigs"]["Fn::If"]

    assert mounts[0] == "UsesSqliteOnEfs" and mounts[2] == {"Ref": "AWS::NoValue"}
    assert mounts[1] == [{"Arn": {"Fn::GetAtt": ["DataAccessPoint", "Arn"]}, "LocalMountPath": "/mnt/data"}]


def test_there_are_functions_on_the_sql_store():
    assert {"UsageFunction", "MigrateFunction", "StripeWebhookFunction", "JobsCreateFunction"} <= set(SQL_FUNCTIONS)


def test_the_functions_may_read_the_aurora_secret_and_nothing_else_of_it():
    statement = RESOURCES["DatabaseAccessPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Fn::If"]

    assert statement[0] == "UsesSqliteOnEfs"
    assert statement[2] == {"Sid": "AuroraCredentials", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                            "Resource": {"Ref": "DatabaseSecret"}}


def _ingress(group: str) -> list[dict[str, Any]]:
    return RESOURCES[group]["Properties"]["SecurityGroupIngress"]


def test_only_the_functions_reach_the_proxy_and_only_the_proxy_the_cluster():
    [to_proxy] = _ingress("DatabaseProxySecurityGroup")
    [to_cluster] = _ingress("DatabaseClusterSecurityGroup")

    assert to_proxy["SourceSecurityGroupId"] == {"Fn::GetAtt": ["FunctionSecurityGroup", "GroupId"]}
    assert to_cluster["SourceSecurityGroupId"] == {"Fn::GetAtt": ["DatabaseProxySecurityGroup", "GroupId"]}
    assert (to_proxy["FromPort"], to_proxy["ToPort"], to_cluster["FromPort"], to_cluster["ToPort"]) == (5432,) * 4
    egress = RESOURCES["FunctionToDatabaseProxyEgress"]["Properties"]
    assert egress["DestinationSecurityGroupId"] == {"Fn::GetAtt": ["DatabaseProxySecurityGroup", "GroupId"]}


def test_the_cluster_is_serverless_v2_encrypted_backed_up_and_protected_in_production():
    cluster = RESOURCES["DatabaseCluster"]
    properties = cluster["Properties"]

    assert properties["Engine"] == "aurora-postgresql" and properties["StorageEncrypted"] is True
    assert properties["ServerlessV2ScalingConfiguration"] == {"MinCapacity": {"Ref": "AuroraMinCapacity"},
                                                             "MaxCapacity": {"Ref": "AuroraMaxCapacity"}}
    assert properties["DeletionProtection"] == {"Fn::If": ["IsProduction", True, False]}
    assert properties["BackupRetentionPeriod"]["Fn::If"][1] >= 7
    assert cluster["DeletionPolicy"] == cluster["UpdateReplacePolicy"] == "Snapshot"
    assert RESOURCES["DatabaseInstance"]["Properties"]["DBInstanceClass"] == "db.serverless"
    assert "resolve:secretsmanager" in properties["MasterUserPassword"]["Fn::Sub"]


def test_the_proxy_requires_tls_and_authenticates_with_the_secret():
    proxy = RESOURCES["DatabaseProxy"]["Properties"]

    assert proxy["RequireTLS"] is True and proxy["EngineFamily"] == "POSTGRESQL"
    assert proxy["Auth"] == [{"AuthScheme": "SECRETS", "SecretArn": {"Ref": "DatabaseSecret"}, "IAMAuth": "DISABLED"}]
