"""The registry of service nodes: register, heartbeat, live or gone, unregister."""

from __future__ import annotations

from datetime import timedelta

from certward.ca.context import CAContext
from certward.nodes import heartbeat, list_nodes, node_id_for, register_node, unregister_node


def test_a_registered_node_is_live_until_its_heartbeat_is_old(ca_context: CAContext) -> None:
    node = node_id_for(8443)
    register_node(ca_context, node_id=node, url="https://a:8443")
    [info] = list_nodes(ca_context)
    assert (info.node_id, info.url, info.live) == (node, "https://a:8443", True)

    real_clock = ca_context.clock
    ca_context.clock = lambda: real_clock() + timedelta(minutes=1)
    try:
        assert [n.live for n in list_nodes(ca_context)] == [False]
        heartbeat(ca_context, node_id=node, url="https://a:8443")
        assert [n.live for n in list_nodes(ca_context)] == [True]
    finally:
        ca_context.clock = real_clock


def test_a_heartbeat_registers_a_node_whose_entry_went_away(ca_context: CAContext) -> None:
    heartbeat(ca_context, node_id="h:1:1", url="https://h:1")
    assert [n.node_id for n in list_nodes(ca_context)] == ["h:1:1"]


def test_registering_again_replaces_the_entry_and_unregister_removes_it(
    ca_context: CAContext,
) -> None:
    register_node(ca_context, node_id="x:1:1", url="https://old")
    register_node(ca_context, node_id="x:1:1", url="https://new")
    register_node(ca_context, node_id="y:2:2", url="https://other")
    assert sorted(n.url for n in list_nodes(ca_context)) == ["https://new", "https://other"]
    unregister_node(ca_context, node_id="x:1:1")
    assert [n.node_id for n in list_nodes(ca_context)] == ["y:2:2"]


def test_nodes_gone_for_a_day_are_forgotten_when_another_registers(
    ca_context: CAContext,
) -> None:
    register_node(ca_context, node_id="old:1:1", url="https://old")
    real_clock = ca_context.clock
    ca_context.clock = lambda: real_clock() + timedelta(days=2)
    try:
        register_node(ca_context, node_id="new:1:1", url="https://new")
        assert [n.node_id for n in list_nodes(ca_context)] == ["new:1:1"]
    finally:
        ca_context.clock = real_clock
