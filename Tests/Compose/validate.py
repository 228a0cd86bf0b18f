#!/usr/bin/env python3
"""Validates compose.yaml against the Compose Specification's JSON schema (kept beside this
script), and checks what the schema cannot: every service the product needs is there, each
service's command names its executable, and the gateway is the only published port."""
import json
import sys
from pathlib import Path

import jsonschema
import yaml

root = Path(__file__).resolve().parents[2]
compose = yaml.safe_load((root / "compose.yaml").read_text())
schema = json.loads((Path(__file__).parent / "compose-spec.json").read_text())
jsonschema.validate(compose, schema)
services = compose["services"]
for name in ["registry", "settlement", "supervision", "gateway", "postgres"]:
    if name not in services:
        sys.exit(f"compose.yaml: service '{name}' is missing")
for name in ["registry", "settlement", "supervision", "gateway"]:
    if services[name]["command"][0] != name:
        sys.exit(f"compose.yaml: service '{name}' does not run its executable")
# Only the gateway is published to the network; the "ops" profile's tools (Prometheus, Grafana)
# only on the host's loopback.
def loopback_only(service):
    return all(str(port).startswith("127.0.0.1:") for port in service.get("ports", []))
published = [n for n, s in services.items() if s.get("ports") and not ("ops" in s.get("profiles", []) and loopback_only(s))]
if published != ["gateway"]:
    sys.exit(f"compose.yaml: only the gateway may publish ports (ops tools on 127.0.0.1 only), not {published}")
for name in ["prometheus", "grafana"]:
    if services.get(name, {}).get("profiles") != ["ops"]:
        sys.exit(f"compose.yaml: '{name}' belongs to the ops profile")
dockerfile = (root / "Dockerfile").read_text()
for product in ["registry", "settlement", "supervision", "gateway"]:
    if f"--product {product}" not in dockerfile:
        sys.exit(f"Dockerfile does not build {product}")
print("compose.yaml is valid")

# A first `docker compose up` must run: every service checks its own health, the gateway
# waits for healthy backends, and the image builds without hiding a failed step.
for name in ["registry", "settlement", "settlement-2", "supervision", "supervision-2", "gateway"]:
    if "healthcheck" not in services[name]:
        sys.exit(f"compose.yaml: '{name}' has no health check")
gateway_needs = services["gateway"].get("depends_on", {})
for name in ["postgres", "registry", "settlement", "supervision"]:
    if not isinstance(gateway_needs, dict) or gateway_needs.get(name, {}).get("condition") != "service_healthy":
        sys.exit(f"compose.yaml: the gateway must wait for a healthy '{name}'")
dockerfile = (root / "Dockerfile").read_text()
if "|| true" in dockerfile:
    sys.exit("Dockerfile: '|| true' hides a failed build step")
if "USER 10001:10001" not in dockerfile:
    sys.exit("Dockerfile: the runtime image must run as the fixed non-root UID 10001")
print("ok: health checks, start order and the Dockerfile")
