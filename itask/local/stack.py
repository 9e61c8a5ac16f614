"""The embedded local stack: one process, no AWS account, no Docker.

moto server on 127.0.0.1 (DynamoDB, S3, Step Functions running the real ASL, EventBridge), Lambda
invokes routed in-process to our handlers, the HTTP API on a local port behind the same JWT checks,
and a firer for the schedule rules.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from functions.dal.access_repo import AccessRepository
from functions.dal.clients import reset_clients
from functions.models.access import Principal
from functions.settings import Settings
from itask.local import lambda_router, moto_fidelity
from itask.local.clock import ROUTE as CLOCK_ROUTE
from itask.local.clock import ClockRoute, LocalClock
from itask.local.email_resources import DEFAULT_MAX_SEND_RATE, ses_quota
from itask.local.event_delivery import EventDelivery
from itask.local.http_adapter import ApiGatewayAdapter
from itask.local.jwt_local import KeySetServer, LocalIssuer
from itask.local.lms_issuer import JWKS_PATH, LocalLms
from itask.local.persistence import PeriodicSnapshots, SnapshotInfo, StateStore, install_watcher
from itask.local.quiet_gc import QuietCollector, install_activity
from itask.local.resources import export_settings, local_secret, provision, provision_local_downloads
from itask.local.rule_firer import RuleFirer

STATE_FILE = "stack.json"
DEFAULT_REGION = "us-east-1"
# The administrator every fresh local stack has (global staff: imports courses, loads data); the
# token subject for `itask token admin`. `itask seed` adds the demo course's staff.
ADMIN_SUBJECT = "admin"
# How often a running stack saves its state when something changed (and always when it stops).
DEFAULT_SNAPSHOT_INTERVAL_S = 300.0


def prepare_process(region: str = DEFAULT_REGION, quiet: bool = True) -> None:
    """Fake credentials (nothing can reach real AWS) and quiet Powertools, before any client exists."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_SERVICE_NAME": "instructor-tasks",
            "POWERTOOLS_METRICS_NAMESPACE": "InstructorTasks",
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    # moto's request log and its interpreter's notes on every failed state are noise here.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    if quiet:
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")


@dataclass
class StackInfo:
    api_url: str
    moto_url: str
    region: str
    home: str
    pid: int
    admin: str = ADMIN_SUBJECT

    def save(self, home: Path) -> None:
        (home / STATE_FILE).write_text(json.dumps(self.__dict__, indent=2))

    @classmethod
    def load(cls, home: Path) -> StackInfo:
        path = home / STATE_FILE
        if not path.exists():
            raise FileNotFoundError(f"No local stack found ({path} missing): start one with `itask serve`")
        return cls(**json.loads(path.read_text()))


def ensure_admin(settings: Settings, subject: str = ADMIN_SUBJECT) -> Principal:
    """The local administrator, created if missing, so a fresh stack accepts an import at once."""
    access = AccessRepository(settings)
    found = access.get_principal(subject)
    if found is not None and found.global_staff:
        return found
    admin = Principal(
        subject=subject, user_id=1, username=subject, email=f"{subject}@example.org", global_staff=True
    )
    access.put_principal(admin)
    return admin


class LocalStack:
    def __init__(
        self,
        home: Path,
        api_port: int = 0,
        moto_port: int = 0,
        rule_interval_s: float = 60.0,
        settings: Settings | None = None,
        quiet: bool = True,
        announce: bool = True,
        request_timeout_s: int = 30,
        persist: bool = True,
        fresh: bool = False,
        snapshot_interval_s: float = DEFAULT_SNAPSHOT_INTERVAL_S,
        ses_max_send_rate: float = DEFAULT_MAX_SEND_RATE,
        quiet_collections: bool = True,
    ):
        """``persist``: restore the last snapshot of ``home`` at start, save one periodically and at
        stop; ``fresh``: forget the saved state first (start empty); ``quiet_collections``: full
        garbage collections only when the stack is quiet (``itask.local.quiet_gc``)."""
        self.home = home
        self.request_timeout_s = request_timeout_s
        self.api_port, self.moto_port, self.rule_interval_s = api_port, moto_port, rule_interval_s
        self._base_settings = settings
        self.quiet = quiet
        self.announce = announce
        self.ses_max_send_rate = ses_max_send_rate
        self.settings: Settings | None = None
        self.info: StackInfo | None = None
        self._server: Any = None
        self.adapter: ApiGatewayAdapter | None = None
        self.key_set: KeySetServer | None = None
        self.firer: RuleFirer | None = None
        self.events: EventDelivery | None = None
        self.router: lambda_router.LambdaRouter | None = None
        self.issuer = LocalIssuer(home)
        self.persist, self.fresh, self.snapshot_interval_s = persist, fresh, snapshot_interval_s
        self.store: StateStore | None = None
        self.snapshots: PeriodicSnapshots | None = None
        self.restored: SnapshotInfo | None = None
        self.clock = LocalClock()  # the scheduling clock (`itask clock advance`)
        self.lms = LocalLms(home)
        self.quiet_collections = quiet_collections
        self.collector: QuietCollector | None = None

    def start(self) -> StackInfo:
        from moto.server import ThreadedMotoServer

        region = self._base_settings.region if self._base_settings else DEFAULT_REGION
        prepare_process(region, quiet=self.quiet)
        moto_fidelity.apply()
        moto_fidelity.patient_pynamodb()
        self.router = lambda_router.install(region)  # before any botocore client is created
        watcher = install_watcher()
        activity = install_activity()
        if self.quiet_collections:
            self.collector = QuietCollector(activity)
            self.collector.start()
        ses_quota(self.ses_max_send_rate)  # what moto's SES tells sends about the account's rate
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.moto_port, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        moto_url = f"http://{host}:{port}"
        # moto's Step Functions interpreter calls localhost:$MOTO_PORT; our clients follow AWS_ENDPOINT_URL.
        os.environ["MOTO_PORT"] = str(port)
        os.environ["AWS_ENDPOINT_URL"] = moto_url
        reset_clients()
        request = urllib.request.Request(
            f"{moto_url}/moto-api/config",
            method="POST",
            data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).close()
        from functions.catalog import SECRETS

        self.settings = provision(
            self._base_settings or Settings(region=region),
            self.router,
            {name: local_secret(self.home, name) for name in SECRETS},
        )
        self.adapter = ApiGatewayAdapter(
            self.router,
            self.issuer,
            port=self.api_port,
            request_timeout_s=self.request_timeout_s,
            lms=self.lms,
        )
        self.settings = provision_local_downloads(
            self.settings, self.adapter.url, local_secret(self.home, "local-download")
        )
        # Unsubscribe links in course email point at this API (a deployment: its public URL).
        if not (self._base_settings and "email_public_base_url" in self._base_settings.model_fields_set):
            self.settings = self.settings.model_copy(update={"email_public_base_url": self.adapter.url})
        if not self.settings.openedx_jwt_issuer:  # play the LMS, unless told to trust another
            self.settings = self.settings.model_copy(
                update={
                    "openedx_jwt_issuer": self.lms.issuer,
                    "openedx_jwt_audience": self.lms.audience,
                    "openedx_jwks_url": self.adapter.url + JWKS_PATH,
                }
            )
        # The dashboard checks tokens as the adapter does, with the issuer's published keys.
        self.key_set = KeySetServer(self.issuer)
        self.key_set.start()
        self.settings = self.settings.model_copy(
            update={
                "web_jwt_issuer": self.issuer.issuer,
                "web_jwt_audience": self.issuer.audience,
                "web_jwks_url": self.key_set.url,
            }
        )
        export_settings(self.settings)
        if self.persist:
            self._restore()
        admin = ensure_admin(self.settings)
        if self.announce:
            print(
                f"itask: administrator {admin.subject!r} (global staff; bearer token: itask token "
                f"{admin.subject})",
                flush=True,
            )
        self.firer = RuleFirer(self.router, self.rule_interval_s)
        if self.restored is not None:
            # Executions do not survive a stop: tasks left running are failed now by the sweeper
            # (those updated within its grace period, at a later firing), before the API opens.
            self.firer.fire_all()
        self.firer.start()
        self.adapter.local_routes[CLOCK_ROUTE] = ClockRoute(self.clock, self.firer)
        self.events = EventDelivery(self.router, region)
        self.events.start()
        if self.store is not None:
            self.snapshots = PeriodicSnapshots(self.store, watcher, self.snapshot_interval_s)
            self.snapshots.start()
        self.adapter.start()  # last: requests come in once the state is restored and swept
        self.info = StackInfo(
            api_url=self.adapter.url, moto_url=moto_url, region=region, home=str(self.home), pid=os.getpid()
        )
        self.info.save(self.home)
        return self.info

    def wait_for_executions(self, timeout_s: float = 120.0) -> None:
        """Block until no execution of the state machine is running (clean shutdown)."""
        from functions.dal.clients import client

        assert self.settings is not None
        sfn = client("stepfunctions", self.settings.region)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            running = sfn.list_executions(
                stateMachineArn=self.settings.state_machine_arn, statusFilter="RUNNING"
            )["executions"]
            if not running:
                return
            time.sleep(0.2)

    def _restore(self) -> None:
        assert self.settings is not None
        self.store = StateStore(self.home, self.settings)
        if self.fresh:
            self.store.discard()
        self.restored = self.store.load()
        if self.restored is not None and self.announce:
            tables = sum(self.restored.tables.values())
            print(
                f"itask: state restored from {self.store.path} (saved {self.restored.saved}): "
                f"{tables:,d} items, {self.restored.objects:,d} objects",
                flush=True,
            )

    def save_state(self) -> SnapshotInfo | None:
        """A snapshot now (also taken periodically and at stop); None when the stack does not persist."""
        return self.snapshots.save_now() if self.snapshots else None

    def stop(self) -> None:
        if self.adapter:
            self.adapter.stop()  # no new requests while the last snapshot is taken
        if self.events:
            self.events.stop()
        if self.firer:
            self.firer.stop()
        if self.snapshots:
            self.snapshots.stop()
            try:
                info = self.snapshots.save_now()
                if self.announce and self.store:
                    print(f"itask: state saved to {self.store.path} ({info.objects} objects)", flush=True)
            except Exception as error:  # the previous snapshot stays; stopping goes on
                print(f"itask: state NOT saved ({error}); the previous snapshot is kept", flush=True)
        if self.key_set:
            self.key_set.stop()
        if self._server:
            self._server.stop()
        if self.collector:
            self.collector.stop()
        state = self.home / STATE_FILE
        if state.exists() and self.info and json.loads(state.read_text()).get("pid") == self.info.pid:
            state.unlink()
