"""Real AWS (opt-in): boto3"s default credential chain."""

from __future__ import annotations

from receipt_compaction.harness.backends.base import Backend, BackendUnavailable, ContextManagedExecutor

__all__ = ["AwsExecutor"]


class AwsExecutor(ContextManagedExecutor):
    """Real AWS (opt-in): boto3's default credential chain; resources get unique names and are removed."""

    def __init__(self, *, region: str) -> None:
        self.region = region

    def start(self) -> Backend:
        import boto3  # noqa: PLC0415 - boto3 is a core dependency; imported here to keep this module light

        credentials = boto3.session.Session(region_name=self.region).get_credentials()
        if credentials is None:
            raise BackendUnavailable(
                "backend 'aws' found no AWS credentials in boto3's default chain: set a profile or "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or use --receipt-compaction-backend=moto"
            )
        return Backend(
            name="aws", endpoint_url=None, region=self.region, access_key_id=None, secret_access_key=None
        )

    def stop(self) -> None:
        """Nothing to stop; every fixture removes the resources it created."""
