"""The KDS page: master key timeline, current key, publisher and nodes; who may see it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from certward.ca.context import CAContext
from certward.datadir import open_data_dir
from certward.kds.masterkeys import MasterKeyInfo, list_master_keys, publish_master_key
from certward.kds.nodes import heartbeat, register_node
from certward.server.console.pages.kds import master_key_timeline
from tests.server.console.console import assert_console_page
from tests.server.service import Identity, Service


@pytest.fixture
def data(console_service: Service) -> Iterator[CAContext]:
    """The console service's data dir, opened beside the running service (same database)."""
    context = open_data_dir(console_service.data_dir)
    try:
        yield context
    finally:
        context.database.dispose()


def _cell(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]*)<', html)
    assert found, f"no element {element_id}"
    return found.group(1).strip()


def test_the_page_shows_the_current_key_the_publisher_and_the_nodes(
    admin: httpx.Client, data: CAContext
) -> None:
    for _ in range(3):
        publish_master_key(data, created_by="console-test")
    node_id = f"kds-test-{uuid.uuid4().hex[:6]}/127.0.0.1:8444"
    register_node(data, node_id=node_id, host="127.0.0.1", port=8444, address=bytes([127, 0, 0, 1]))
    heartbeat(data, node_id, publisher=True)
    stamps = [info.timestamp for info in list_master_keys(data)]

    html = assert_console_page(admin.get("/ui/kds"), 200)

    assert _cell(html, "kds-count") == str(len(stamps))
    assert _cell(html, "kds-current") == str(stamps[-2])
    assert _cell(html, "kds-publisher") == node_id
    table = html.split('id="master-keys"', 1)[1].split("</table>", 1)[0]
    assert table.index(str(stamps[-1])) < table.index(str(stamps[-2]))  # newest first
    assert "newest, held back" in table
    assert f"<td>{node_id}</td><td>127.0.0.1:8444</td>" in html
    assert html.count('class="bar key-') == len(stamps)


def test_a_metrics_reader_sees_the_kds_page(
    console_service: Service, principal_for: Callable[..., Identity]
) -> None:
    with console_service.client(principal_for("metrics.read")) as client:
        html = assert_console_page(client.get("/ui/kds"), 200)

    assert 'id="kds-count"' in html


def test_a_principal_without_the_grant_sees_a_notice_and_no_keys(
    console_service: Service, principal_for: Callable[..., Identity]
) -> None:
    with console_service.client(principal_for("kds.client")) as client:
        html = assert_console_page(client.get("/ui/kds"), 200)

    assert "needs the <code>metrics.read</code> or <code>admin</code> grant" in html
    assert 'id="kds-count"' not in html


# -- the timeline's geometry -----------------------------------------------------------------


def _keys(*days_ago: float, now: datetime) -> list[MasterKeyInfo]:
    stamps = [int((now - timedelta(days=d)).timestamp() * 1000) for d in days_ago]
    return [MasterKeyInfo(stamp, now, "test") for stamp in stamps]


def test_the_timeline_marks_keys_left_to_right_with_their_roles() -> None:
    now = datetime(2030, 6, 1, tzinfo=UTC)

    timeline = master_key_timeline(_keys(30, 20, 10, 1, now=now), now=now, lifespan_days=365)

    xs = [mark.x for mark in timeline.marks]
    assert xs == sorted(xs)
    assert all(timeline.left <= x <= timeline.right for x in xs)
    assert [mark.role for mark in timeline.marks] == ["older", "older", "current", "newest"]
    assert xs[-1] < timeline.now_x <= timeline.right


def test_a_single_key_is_the_current_one() -> None:
    now = datetime(2030, 6, 1, tzinfo=UTC)

    timeline = master_key_timeline(_keys(0.5, now=now), now=now, lifespan_days=365)

    assert [mark.role for mark in timeline.marks] == ["current"]


def test_without_keys_the_timeline_spans_one_lifespan_up_to_now() -> None:
    now = datetime(2030, 6, 1, tzinfo=UTC)

    timeline = master_key_timeline([], now=now, lifespan_days=30)

    assert timeline.marks == ()
    assert timeline.start < now - timedelta(days=30) < now < timeline.end
