"""botocore's data loader, told which services this receiver calls.

To load a service's model, botocore first lists every service it ships: it walks its ~400
service directories, once for the API model and once for the endpoint rules, about 15 ms of
every cold start on Lambda. Here the list is that of the services this package creates clients
for, each still checked on disk. Everything else (search paths, versions, the SDK's extras)
is botocore's own.
"""

from __future__ import annotations

from botocore.exceptions import DataNotFoundError
from botocore.loaders import Loader, create_loader

# Every AWS service this package creates a client for (aws_client refuses any other name).
SERVICES = ("dynamodb", "secretsmanager", "sqs")


class KnownServicesLoader(Loader):
    def list_available_services(self, type_name: str) -> list[str]:
        return [name for name in SERVICES if self._has(name, type_name)]

    def _has(self, service: str, type_name: str) -> bool:
        try:
            return bool(self.list_api_versions(service, type_name))
        except DataNotFoundError:
            return False


def known_services_loader(data_path: str | None) -> KnownServicesLoader:
    """The search paths botocore's own loader would use (AWS_DATA_PATH's first)."""
    paths = list(create_loader(data_path).search_paths)
    return KnownServicesLoader(extra_search_paths=paths, include_default_search_paths=False)
