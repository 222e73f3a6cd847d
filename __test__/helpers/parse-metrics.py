"""Parses a metrics exposition from stdin with the Prometheus project's own Python
client (prometheus_client), as a scraper would: `text` (0.0.4) or `openmetrics`. Prints
the families as JSON; a parse error exits non-zero with the parser's message."""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families as text_families

parse = openmetrics_families if sys.argv[1] == "openmetrics" else text_families
families = [
    {
        "name": family.name,
        "type": family.type,
        "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in family.samples],
    }
    for family in parse(sys.stdin.read())
]
json.dump(families, sys.stdout)
