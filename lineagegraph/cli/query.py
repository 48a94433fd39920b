"""Read commands: lineage, impact, search, stats — against a local store."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from lineagegraph.cli.common import (
    DataDir,
    StoreUri,
    cli_errors,
    console,
    make_settings,
    parse_time,
    print_json,
)
from lineagegraph.errors import InvalidInput
from lineagegraph.graph.impact import ImpactResult, impact
from lineagegraph.graph.keys import NodeKey, parse_key
from lineagegraph.graph.kinds import NodeKind
from lineagegraph.graph.lineage import Granularity, lineage
from lineagegraph.graph.registry import open_store
from lineagegraph.graph.store import Direction, GraphStore, SearchQuery


class Format(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


def _open(data_dir: DataDir, store: StoreUri) -> GraphStore:
    return open_store(make_settings(data_dir, store).store_uri)


def _kinds(values: list[str] | None, flag: str) -> frozenset[NodeKind] | None:
    if not values:
        return None
    out = set()
    for v in values:
        try:
            out.add(NodeKind(v))
        except ValueError:
            known = ", ".join(k.value for k in NodeKind)
            raise InvalidInput(f"unknown node kind {v!r} (known: {known})", path=flag) from None
    return frozenset(out)


def lineage_cmd(
    node: Annotated[
        str, typer.Argument(help="Node id, e.g. 'dataset:postgres://db:5432|public.orders'.")
    ],
    direction: Annotated[
        Direction, typer.Option(help="upstream, downstream or both.")
    ] = Direction.BOTH,
    depth: Annotated[int | None, typer.Option(help="Hops from the node (default: all).")] = None,
    granularity: Annotated[Granularity, typer.Option(help="job, run or all.")] = Granularity.JOB,
    kind: Annotated[
        list[str] | None, typer.Option("--kind", help="Only enter these node kinds.")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="ISO time: the graph as it was then.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Stop after this many nodes.")] = None,
    fmt: Annotated[
        Format, typer.Option("--format", help="table, json or markdown.")
    ] = Format.table,
    data_dir: DataDir = None,
    store: StoreUri = None,
) -> None:
    """Where a node comes from and what it feeds."""
    with cli_errors():
        graph = _open(data_dir, store)
        result = lineage(
            graph,
            parse_key(node),
            direction=direction,
            depth=depth,
            granularity=granularity,
            node_kinds=_kinds(kind, "--kind"),
            as_of=parse_time(as_of),
            limit=limit,
        )
        if fmt is Format.json:
            print_json(
                {
                    "nodes": [
                        {"id": str(n.key), "kind": n.kind.value, "depth": result.depth[n.key]}
                        for n in result.nodes
                    ],
                    "edges": [
                        {"src": str(e.src), "kind": e.kind.value, "dst": str(e.dst)}
                        for e in result.edges
                    ],
                    "truncated": result.truncated,
                }
            )
            return
        table = Table("depth", "kind", "id", title=f"lineage of {node}")
        for n in sorted(result.nodes, key=lambda n: (result.depth[n.key], str(n.key))):
            table.add_row(str(result.depth[n.key]), n.kind.value, str(n.key))
        console.print(table)
        console.print(
            f"{len(result.nodes)} nodes, {len(result.edges)} edges"
            + (" (truncated)" if result.truncated else "")
        )


def impact_cmd(
    nodes: Annotated[
        list[str], typer.Argument(help="Node ids (a dataset, field, job, model version...).")
    ],
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column", "-c", help="A column of the (dataset) node; repeat. Nested: a.b.c."
        ),
    ] = None,
    depth: Annotated[int | None, typer.Option(help="Hops downstream (default: all).")] = None,
    conservative: Annotated[
        bool, typer.Option(help="Also count everything downstream of the columns' datasets.")
    ] = False,
    fail_on: Annotated[
        list[str] | None,
        typer.Option("--fail-on", help="Exit 1 when a node of this kind is affected (for CI)."),
    ] = None,
    as_of: Annotated[str | None, typer.Option("--as-of")] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
    data_dir: DataDir = None,
    store: StoreUri = None,
) -> None:
    """What breaks if these nodes or columns change. Use --fail-on in CI."""
    with cli_errors():
        starts: list[NodeKey] = []
        for text in nodes:
            key = parse_key(text)
            if column:
                if key.kind is not NodeKind.DATASET:
                    raise InvalidInput("--column needs dataset ids", path="--column")
                starts.extend(NodeKey.field(*key.parts, *c.split(".")) for c in column)
            else:
                starts.append(key)
        fail_kinds = _kinds(fail_on, "--fail-on") or frozenset()
        graph = _open(data_dir, store)
        result = impact(
            graph, starts, depth=depth, as_of=parse_time(as_of), conservative=conservative
        )
        _print_impact(result, fmt)
        hit = sorted({a.node.kind.value for a in result.affected if a.node.kind in fail_kinds})
        if hit:
            console.print(f"[bold red]impact reaches {', '.join(hit)}[/]")
            raise typer.Exit(1)


def _print_impact(result: ImpactResult, fmt: Format) -> None:
    if fmt is Format.json:
        print_json(
            {
                "sources": [str(k) for k in result.sources],
                "truncated": result.truncated,
                "affected": {
                    kind.value: [
                        {
                            "id": str(a.node.key),
                            "depth": a.depth,
                            "via": a.via,
                            "owners": a.owners,
                            "path": [str(k) for k in a.path],
                        }
                        for a in items
                    ]
                    for kind, items in result.by_kind.items()
                },
            }
        )
        return
    if fmt is Format.markdown:
        lines = [f"### Impact of {', '.join(f'`{k}`' for k in result.sources)}", ""]
        if not result.affected:
            lines.append("Nothing downstream is affected.")
        for kind, items in result.by_kind.items():
            lines.append(f"**{kind.value}** ({len(items)})")
            lines.extend(
                f"- `{a.node.key}` (depth {a.depth}"
                + (f", owners: {', '.join(a.owners)}" if a.owners else "")
                + ")"
                for a in items
            )
            lines.append("")
        # plain text: no wrapping or styling, so it pastes into a pull-request comment
        sys.stdout.write("\n".join(lines) + "\n")
        return
    table = Table("kind", "id", "depth", "owners", "via", title="impact")
    for a in result.affected:
        table.add_row(a.node.kind.value, str(a.node.key), str(a.depth), ", ".join(a.owners), a.via)
    console.print(table)
    summary = ", ".join(f"{len(v)} {k.value}" for k, v in result.by_kind.items()) or "nothing"
    console.print(f"affected: {summary}" + (" (truncated)" if result.truncated else ""))


def search_cmd(
    text: Annotated[str, typer.Argument(help="Text in the name (or namespace).")] = "",
    kind: Annotated[list[str] | None, typer.Option("--kind")] = None,
    prefix: Annotated[bool, typer.Option(help="Match names that start with the text.")] = False,
    first: Annotated[int, typer.Option(help="How many results.")] = 20,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
    data_dir: DataDir = None,
    store: StoreUri = None,
) -> None:
    """Find nodes by name."""
    with cli_errors():
        page = _open(data_dir, store).search(
            SearchQuery(
                text=text,
                kinds=_kinds(kind, "--kind"),
                mode="prefix" if prefix else "substring",
                first=first,
            )
        )
        if fmt is Format.json:
            print_json([{"id": str(n.key), "kind": n.kind.value} for n in page.nodes])
            return
        table = Table("kind", "id")
        for n in page.nodes:
            table.add_row(n.kind.value, str(n.key))
        console.print(table)


def stats_cmd(data_dir: DataDir = None, store: StoreUri = None) -> None:
    """Count nodes and edges by kind."""
    with cli_errors():
        s = _open(data_dir, store).stats()
        print_json(
            {
                "nodes": dict(s.nodes_by_kind),
                "edges": dict(s.edges_by_kind),
                "log_position": s.log_position,
            }
        )


def register(app: typer.Typer) -> None:
    app.command("lineage")(lineage_cmd)
    app.command("impact")(impact_cmd)
    app.command("search")(search_cmd)
    app.command("stats")(stats_cmd)
