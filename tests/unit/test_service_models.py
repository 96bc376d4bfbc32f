"""The session's data loader knows only the services the receiver calls, and loads exactly what
botocore's own loader loads for them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from botocore.exceptions import UnknownServiceError
from botocore.loaders import create_loader

from skipcall_bridge.aws.config import aws_client, aws_session
from skipcall_bridge.aws.service_models import SERVICES, known_services_loader

SRC = Path(__file__).resolve().parents[2] / "src" / "skipcall_bridge"


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("type_name", ["service-2", "endpoint-rule-set-1", "paginators-1"])
def test_models_are_botocores_own(service: str, type_name: str) -> None:
    ours, botocores = known_services_loader(None), create_loader()
    if service not in botocores.list_available_services(type_name):
        assert service not in ours.list_available_services(type_name)
        return
    assert ours.load_service_model(service, type_name) == botocores.load_service_model(
        service, type_name
    )


def test_only_the_services_used_are_listed() -> None:
    assert known_services_loader(None).list_available_services("service-2") == list(SERVICES)


def test_every_client_the_package_creates_is_a_known_service() -> None:
    named = {
        match
        for path in SRC.rglob("*.py")
        for match in re.findall(r'aws_client\(\s*"([a-z0-9-]+)"', path.read_text())
    }
    assert named == set(SERVICES)


def test_another_service_is_refused_by_name() -> None:
    with pytest.raises(UnknownServiceError, match="s3"):
        aws_client("s3", "eu-west-1")


def test_aws_data_path_is_searched_first(tmp_path: Path) -> None:
    data_path = f"{tmp_path}/a:{tmp_path}/b"
    loader = known_services_loader(data_path)
    assert loader.search_paths[:2] == [f"{tmp_path}/a", f"{tmp_path}/b"]
    assert loader.search_paths == create_loader(data_path).search_paths
    assert known_services_loader(None).search_paths == create_loader().search_paths


def test_the_shared_session_uses_it() -> None:
    assert aws_session().get_component("data_loader").list_available_services("service-2") == list(
        SERVICES
    )
