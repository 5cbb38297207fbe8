"""The shop's Grafana dashboards, as code.

Built with grafana-foundation-sdk's typed builders and written as JSON into the directory
given as the only argument (default: `dashboards/` beside this file), one file per dashboard,
named by its uid. Grafana's file provisioning (provisioning/dashboards/shop.yml) loads that
directory. The SDK's version is pinned in one place, provision/src/grafana.rs (`TOOL`), which
installs it into a venv of its own and runs this script; the same version must make the same
JSON, so never edit the JSON by hand: change this file and regenerate,

    <the SDK's venv>/bin/python docker/monitoring/grafana/generate.py \
        docker/monitoring/grafana/dashboards

(`pip install "grafana-foundation-sdk==<the pinned version>"` makes such a venv by hand).
Step 9's tests regenerate into a temp directory, fail when the committed JSON differs and
print that command with the venv's real path.

Every query names only metrics the shop exports (step 9's tests check each name against the
app's registry); every panel reads the Prometheus data source picked in the `datasource`
variable, so the same JSON works against any Grafana whatever its data source is called.
"""

import json
import pathlib
import sys

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import units
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

# Every panel and variable query reads the data source the `datasource` variable holds.
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")

# Tags shared by every dashboard, so Grafana's search finds them together.
TAGS = ["stepwise-shop"]

# What `shop` (Prometheus's job name for the app's admin listeners) scrapes.
JOB = 'job="shop"'


# A 0 for every route that answered: what an error or refusal query falls back to (`or`)
# where no error series exists yet, so the panel shows 0, not "no data". Counters labelled
# by status or route get their first series with their first error.
ZERO_PER_ROUTE = "sum by (route) (rate(http_requests_total{{{route}}}[$__rate_interval])) * 0"


def query(expr, legend="__auto", ref="A"):
    return (
        prometheus.Dataquery()
        .expr(expr)
        .legend_format(legend)
        .ref_id(ref)
        .datasource(DATASOURCE)
        .range()
    )


def series(title, unit, queries, description, width=12, stacked=False):
    """A time series panel; `queries` is a list of (expr, legend)."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(8)
        .fill_opacity(10 if not stacked else 40)
    )
    if unit in (units.PercentUnit,):
        panel = panel.min(0).max(1)
    for index, (expr, legend) in enumerate(queries):
        panel = panel.with_target(query(expr, legend, chr(ord("A") + index)))
    return panel


def single(title, unit, expr, description, width=6, legend="__auto"):
    """A stat panel showing the current value of one query."""
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(4)
        .with_target(query(expr, legend))
    )


def datasource_variable():
    return (
        dashboard.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
    )


def label_variable(name, label, definition, all_value=".*"):
    """A multi-value variable of a label's values, with an `All` that matches any value."""
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(definition)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(all_value)
        .current(VariableOption(selected=True, text="All", value="$__all"))
    )


def new_dashboard(uid, title, description):
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .time("now-1h", "now")
        .refresh("30s")
        .timezone("browser")
        .editable()
        .with_variable(datasource_variable())
    )


def quantile(q, matcher, by="le"):
    return (
        f"histogram_quantile({q}, sum by ({by}) "
        f"(rate(http_request_duration_seconds_bucket{{{matcher}}}[$__rate_interval])))"
    )


def service_overview():
    inst = f'{JOB}, instance=~"$instance"'
    return (
        new_dashboard(
            "shop-overview",
            "Shop: service overview",
            "The whole shop at a glance: traffic, errors, latency, saturation, instances.",
        )
        .with_variable(
            label_variable("instance", "Instance", f"label_values(up{{{JOB}}}, instance)")
        )
        .with_row(dashboard.Row("Now"))
        .with_panel(
            single(
                "Instances up",
                units.Short,
                f"sum(up{{{inst}}})",
                "Instances of job shop whose /metrics answered the last scrape.",
                width=4,
            )
        )
        .with_panel(
            single(
                "Request rate",
                units.RequestsPerSecond,
                f"sum(rate(http_requests_total{{{inst}}}[$__rate_interval]))",
                "Requests answered per second, every route, every instance.",
                width=4,
            )
        )
        .with_panel(
            single(
                "Error ratio (5xx)",
                units.PercentUnit,
                f'(sum(rate(http_requests_total{{{inst}, status=~"5.."}}[$__rate_interval])) or vector(0)) '
                f"/ sum(rate(http_requests_total{{{inst}}}[$__rate_interval]))",
                "Share of answers that were server errors: what the availability SLO counts "
                "(at most 0.1% over 30 days).",
                width=4,
            )
        )
        .with_panel(
            single(
                "Answered within 0.25 s",
                units.PercentUnit,
                f'sum(rate(http_request_duration_seconds_bucket{{{inst}, le="0.25"}}[$__rate_interval])) '
                f"/ sum(rate(http_request_duration_seconds_count{{{inst}}}[$__rate_interval]))",
                "Share of requests answered within the latency SLO's threshold, read from the "
                "histogram's 0.25 s bucket (the SLO: at least 99% over 30 days).",
                width=4,
            )
        )
        .with_panel(
            single(
                "In flight",
                units.Short,
                f"sum(http_requests_in_flight{{{inst}}})",
                "Requests being served right now.",
                width=4,
            )
        )
        .with_panel(
            single(
                "Versions",
                units.Short,
                f"count by (version) (shop_build_info{{{inst}}})",
                "Instances running each version (shop_build_info): two during a rolling release.",
                width=4,
                legend="{{version}}",
            )
        )
        .with_row(dashboard.Row("Traffic and errors"))
        .with_panel(
            series(
                "Request rate by status",
                units.RequestsPerSecond,
                [
                    (
                        f"sum by (status) (rate(http_requests_total{{{inst}}}[$__rate_interval]))",
                        "{{status}}",
                    )
                ],
                "Requests per second, by HTTP status code.",
            )
        )
        .with_panel(
            series(
                "Error ratio",
                units.PercentUnit,
                [
                    (
                        f'(sum(rate(http_requests_total{{{inst}, status=~"5.."}}[$__rate_interval])) or vector(0)) '
                        f"/ sum(rate(http_requests_total{{{inst}}}[$__rate_interval]))",
                        "5xx",
                    ),
                    (
                        f"(sum(rate(shop_rate_limited_total{{{inst}}}[$__rate_interval])) or vector(0)) "
                        f"/ sum(rate(http_requests_total{{{inst}}}[$__rate_interval]))",
                        "rate limited (429)",
                    ),
                ],
                "Server errors and rate-limited answers as a share of all requests.",
            )
        )
        .with_row(dashboard.Row("Latency and load"))
        .with_panel(
            series(
                "Latency",
                units.Seconds,
                [
                    (quantile(0.5, inst), "p50"),
                    (quantile(0.95, inst), "p95"),
                    (quantile(0.99, inst), "p99"),
                ],
                "Request duration quantiles across every route (the latency SLO: 99% under 0.25 s).",
            )
        )
        .with_panel(
            series(
                "In-flight requests",
                units.Short,
                [(f"sum by (instance) (http_requests_in_flight{{{inst}}})", "{{instance}}")],
                "Requests being served, per instance.",
            )
        )
        .with_panel(
            series(
                "CPU",
                units.Percent,
                [
                    (
                        f"100 * rate(process_cpu_seconds_total{{{inst}}}[$__rate_interval])",
                        "{{instance}}",
                    )
                ],
                "CPU used by each instance's process, in percent of one core.",
            )
        )
        .with_panel(
            series(
                "Memory",
                units.BytesIEC,
                [(f"process_resident_memory_bytes{{{inst}}}", "{{instance}}")],
                "Resident memory of each instance's process.",
            )
        )
    )


def red_per_route():
    route = f'{JOB}, route=~"$route"'
    return (
        new_dashboard(
            "shop-red",
            "Shop: RED per route",
            "Rate, errors and duration of each route template, as the HTTP layer records them.",
        )
        .with_variable(
            label_variable("route", "Route", f"label_values(http_requests_total{{{JOB}}}, route)")
        )
        .with_panel(
            series(
                "Rate",
                units.RequestsPerSecond,
                [
                    (
                        f"sum by (route) (rate(http_requests_total{{{route}}}[$__rate_interval]))",
                        "{{route}}",
                    )
                ],
                "Requests per second per route template.",
                width=24,
            )
        )
        .with_panel(
            series(
                "Errors (5xx)",
                units.PercentUnit,
                [
                    (
                        f'(sum by (route) (rate(http_requests_total{{{route}, status=~"5.."}}[$__rate_interval])) '
                        f"or {ZERO_PER_ROUTE.format(route=route)}) "
                        f"/ sum by (route) (rate(http_requests_total{{{route}}}[$__rate_interval]))",
                        "{{route}}",
                    )
                ],
                "Share of each route's answers that were server errors.",
            )
        )
        .with_panel(
            series(
                "Client errors (4xx)",
                units.RequestsPerSecond,
                [
                    (
                        f'sum by (route, status) (rate(http_requests_total{{{route}, status=~"4.."}}[$__rate_interval]))',
                        "{{route}} {{status}}",
                    )
                ],
                "4xx answers per second by route and status: refused input, missing resources, rate limits.",
            )
        )
        .with_panel(
            series(
                "Duration p50",
                units.Seconds,
                [(quantile(0.5, route, "le, route"), "{{route}}")],
                "Median request duration per route.",
                width=8,
            )
        )
        .with_panel(
            series(
                "Duration p95",
                units.Seconds,
                [(quantile(0.95, route, "le, route"), "{{route}}")],
                "95th percentile of request duration per route.",
                width=8,
            )
        )
        .with_panel(
            series(
                "Duration p99",
                units.Seconds,
                [(quantile(0.99, route, "le, route"), "{{route}}")],
                "99th percentile of request duration per route.",
                width=8,
            )
        )
        .with_panel(
            series(
                "Rate limited (429)",
                units.RequestsPerSecond,
                [
                    (
                        f"sum by (route) (rate(shop_rate_limited_total{{{route}}}[$__rate_interval])) "
                        f"or {ZERO_PER_ROUTE.format(route=route)}",
                        "{{route}}",
                    )
                ],
                "Requests refused by the rate limiter, per route.",
                width=24,
            )
        )
    )


def data_stores():
    return (
        new_dashboard(
            "shop-data-stores",
            "Shop: data stores and services",
            "The shop's clients of MongoDB, PostgreSQL, Redis and the payments service: latency, "
            "errors, connection pools and the health checks.",
        )
        .with_panel(
            series(
                "Client latency p95",
                units.Seconds,
                [
                    (
                        f"histogram_quantile(0.95, sum by (le, client, operation) "
                        f"(rate(shop_client_request_duration_seconds_bucket{{{JOB}}}[$__rate_interval])))",
                        "{{client}} {{operation}}",
                    )
                ],
                "95th percentile of each client call, by client and operation.",
            )
        )
        .with_panel(
            series(
                "Client calls",
                units.OpsPerSecond,
                [
                    (
                        f"sum by (client) (rate(shop_client_request_duration_seconds_count{{{JOB}}}[$__rate_interval]))",
                        "{{client}}",
                    )
                ],
                "Calls per second to each data store and service.",
            )
        )
        .with_panel(
            series(
                "Client errors",
                units.OpsPerSecond,
                [
                    (
                        f"sum by (client, operation) (rate(shop_client_errors_total{{{JOB}}}[$__rate_interval])) "
                        f"or sum by (client, operation) "
                        f"(rate(shop_client_request_duration_seconds_count{{{JOB}}}[$__rate_interval])) * 0",
                        "{{client}} {{operation}}",
                    )
                ],
                "Failed calls per second, by client and operation.",
            )
        )
        .with_panel(
            series(
                "Pool saturation",
                units.PercentUnit,
                [
                    (
                        f'sum by (pool) (shop_pool_connections{{{JOB}, state="busy"}}) '
                        f"/ sum by (pool) (shop_pool_max_connections{{{JOB}}})",
                        "{{pool}}",
                    )
                ],
                "Busy connections as a share of each pool's maximum: at 1, callers queue for a connection.",
            )
        )
        .with_panel(
            series(
                "Pool connections",
                units.Short,
                [
                    (
                        f"sum by (pool, state) (shop_pool_connections{{{JOB}}})",
                        "{{pool}} {{state}}",
                    )
                ],
                "Open connections of each pool, busy and idle.",
            )
        )
        .with_panel(
            series(
                "Dependency up",
                units.Short,
                [
                    (
                        f"min by (dependency) (shop_dependency_up{{{JOB}}})",
                        "{{dependency}}",
                    )
                ],
                "1 while every instance's health check of the dependency passes, 0 when one fails.",
            )
        )
        .with_panel(
            series(
                "Scrape source failures",
                units.OpsPerSecond,
                [
                    (
                        f"sum by (source) (rate(shop_metrics_scrape_errors_total{{{JOB}}}[$__rate_interval]))",
                        "{{source}}",
                    )
                ],
                "Sources (pools, sagas, outbox, replica, dependencies) that did not answer "
                "within the scrape's timeout: their gauges then keep the last value read.",
                width=24,
            )
        )
    )


def cache():
    return (
        new_dashboard(
            "shop-cache",
            "Shop: cache",
            "The two cache tiers (near: in the process; redis: shared): hit ratio, evictions, errors.",
        )
        .with_panel(
            series(
                "Hit ratio per tier",
                units.PercentUnit,
                [
                    (
                        f'sum by (tier) (rate(shop_cache_requests_total{{{JOB}, result="hit"}}[$__rate_interval])) '
                        f"/ sum by (tier) (rate(shop_cache_requests_total{{{JOB}}}[$__rate_interval]))",
                        "{{tier}}",
                    )
                ],
                "Share of lookups each tier answered from the cache.",
                width=24,
            )
        )
        .with_panel(
            series(
                "Lookups",
                units.OpsPerSecond,
                [
                    (
                        f"sum by (tier, result) (rate(shop_cache_requests_total{{{JOB}}}[$__rate_interval]))",
                        "{{tier}} {{result}}",
                    )
                ],
                "Cache lookups per second, by tier and result.",
                width=8,
            )
        )
        .with_panel(
            series(
                "Evictions",
                units.OpsPerSecond,
                [
                    (
                        f'sum by (tier) (rate(shop_cache_evictions_total{{{JOB}, tier="near"}}[$__rate_interval]))',
                        "{{tier}}",
                    ),
                    (
                        f'max by (tier) (rate(shop_cache_evictions_total{{{JOB}, tier="redis"}}[$__rate_interval]))',
                        "{{tier}}",
                    ),
                ],
                "Entries dropped to stay within bounds: the near caches' (summed over instances) and "
                "the keys Redis evicted for maxmemory (the server's count, which every instance "
                "reports: the largest is taken).",
                width=8,
            )
        )
        .with_panel(
            series(
                "Errors",
                units.OpsPerSecond,
                [
                    (
                        f"sum(rate(shop_cache_errors_total{{{JOB}}}[$__rate_interval]))",
                        "errors",
                    )
                ],
                "Cache calls that failed (the shop then reads the store).",
                width=8,
            )
        )
    )


def saga_and_outbox():
    # These gauges are read from PostgreSQL and Redis at each scrape: every instance reports
    # the same value, so `max` across instances, never `sum`.
    return (
        new_dashboard(
            "shop-saga-outbox",
            "Shop: sagas, outbox and replica",
            "The distributed parts of step 6: sagas by state, the outbox's backlog and dead "
            "letters, and the read replica's lag.",
        )
        .with_panel(
            single(
                "Stuck sagas",
                units.Short,
                f"max(shop_sagas_stuck{{{JOB}}})",
                "Running sagas not updated for metrics.saga_stuck_after_secs (alert SagaStuck).",
            )
        )
        .with_panel(
            single(
                "Oldest running saga",
                units.Seconds,
                f"max(shop_saga_oldest_running_age_seconds{{{JOB}}})",
                "Age of the oldest running saga (0 when none runs).",
            )
        )
        .with_panel(
            single(
                "Outbox dead letters",
                units.Short,
                f"max(shop_outbox_dead_letters{{{JOB}}})",
                "Events that exhausted their retries (alert OutboxDeadLetters).",
            )
        )
        .with_panel(
            single(
                "Replica lag",
                units.Seconds,
                f"max(shop_replica_lag_seconds{{{JOB}}})",
                "How far the read replica is behind the primary (absent without a replica).",
            )
        )
        .with_panel(
            series(
                "Sagas by state",
                units.Short,
                [
                    (
                        f"max by (kind, state) (shop_sagas{{{JOB}}})",
                        "{{kind}} {{state}}",
                    )
                ],
                "Rows of the sagas table, by kind and state.",
                width=24,
            )
        )
        .with_panel(
            series(
                "Outbox pending",
                units.Short,
                [(f"max(shop_outbox_pending_events{{{JOB}}})", "pending")],
                "Events written to the outbox and not yet published.",
                width=8,
            )
        )
        .with_panel(
            series(
                "Outbox oldest pending age",
                units.Seconds,
                [(f"max(shop_outbox_oldest_pending_age_seconds{{{JOB}}})", "oldest")],
                "Age of the oldest unpublished event (alert OutboxLag).",
                width=8,
            )
        )
        .with_panel(
            series(
                "Replica lag over time",
                units.Seconds,
                [(f"max(shop_replica_lag_seconds{{{JOB}}})", "lag")],
                "The read replica's lag behind the primary (alert ReplicaLagHigh).",
                width=8,
            )
        )
    )


# Money is counted in each currency's minor units (cents for USD and EUR, yen for JPY, which
# has none below it, fils for KWD, a thousandth of a dinar), as the shop stores it. Dividing
# by 100 would be right for some currencies and wrong for others, so the panels show minor
# units per currency and say so; no panel adds two currencies together.
MINOR_UNITS = (
    "In each currency's minor units, as the shop stores amounts: cents for USD or EUR, yen for "
    "JPY (no smaller unit), fils for KWD (a thousandth). Never summed across currencies."
)


def business():
    return (
        new_dashboard(
            "shop-business",
            "Shop: business",
            "What the shop is for: orders placed, revenue and refunds by currency, payment "
            "failures by reason.",
        )
        .with_row(dashboard.Row("In the time range"))
        .with_panel(
            single(
                "Orders placed",
                units.Short,
                f"sum by (currency) (increase(shop_orders_placed_total{{{JOB}}}[$__range]))",
                "Orders placed in the dashboard's time range, by currency.",
                width=8,
                legend="{{currency}}",
            )
        )
        .with_panel(
            single(
                "Revenue (minor units)",
                units.Short,
                f"sum by (currency) (increase(shop_revenue_minor_units_total{{{JOB}}}[$__range]))",
                "Totals of the orders paid in the time range, by currency. " + MINOR_UNITS,
                width=8,
                legend="{{currency}}",
            )
        )
        .with_panel(
            single(
                "Refunds (minor units)",
                units.Short,
                f"sum by (currency) (increase(shop_refunds_minor_units_total{{{JOB}}}[$__range]))",
                "What cancellations of paid orders refunded in the time range, by currency. "
                + MINOR_UNITS,
                width=8,
                legend="{{currency}}",
            )
        )
        .with_row(dashboard.Row("Over time"))
        .with_panel(
            series(
                "Orders placed per minute",
                units.Short,
                [
                    (
                        f"60 * sum by (currency) (rate(shop_orders_placed_total{{{JOB}}}[$__rate_interval]))",
                        "{{currency}}",
                    )
                ],
                "Orders placed per minute, by currency.",
            )
        )
        .with_panel(
            series(
                "Payment failures by reason",
                units.OpsPerSecond,
                [
                    (
                        f"sum by (reason) (rate(shop_payment_failures_total{{{JOB}}}[$__rate_interval]))",
                        "{{reason}}",
                    )
                ],
                "Payments that did not go through, per second, by reason (insufficient funds, "
                "card declined, expired card, provider unavailable, other).",
            )
        )
        .with_panel(
            series(
                "Revenue per minute (minor units)",
                units.Short,
                [
                    (
                        f"60 * sum by (currency) (rate(shop_revenue_minor_units_total{{{JOB}}}[$__rate_interval]))",
                        "{{currency}}",
                    )
                ],
                "Totals of paid orders per minute, by currency. " + MINOR_UNITS,
            )
        )
        .with_panel(
            series(
                "Refunds per minute (minor units)",
                units.Short,
                [
                    (
                        f"60 * sum by (currency) (rate(shop_refunds_minor_units_total{{{JOB}}}[$__rate_interval]))",
                        "{{currency}}",
                    )
                ],
                "Refunds of cancelled paid orders per minute, by currency. " + MINOR_UNITS,
            )
        )
    )


DASHBOARDS = [
    service_overview,
    red_per_route,
    data_stores,
    cache,
    saga_and_outbox,
    business,
]


def main():
    """Writes every dashboard into the output directory and removes any other `*.json` there,
    so the directory holds exactly the dashboards this file makes (a renamed or dropped
    dashboard leaves no stale file for Grafana to keep loading)."""
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).parent / "dashboards"
    out.mkdir(parents=True, exist_ok=True)
    written = set()
    for make in DASHBOARDS:
        built = make().build()
        text = json.dumps(built, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
        name = f"{built.uid}.json"
        (out / name).write_text(text, encoding="utf-8")
        written.add(name)
    for stale in out.glob("*.json"):
        if stale.name not in written:
            stale.unlink()


if __name__ == "__main__":
    main()
