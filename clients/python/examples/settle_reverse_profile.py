#!/usr/bin/env python3
"""An HIS vendor's session with only clients/python: settle a visit (2207), settle it again with
the same key (the stored answer), reverse it (2208), read the clinic's profile. Prints one JSON
line per step; exits 1 with the status on the first failure.

    python3 clients/python/examples/settle_reverse_profile.py --port 7100 --certs certs \\
        --name clinic-H33080200101 --psn-no P7 --mdtrt-id MD20240601-0001
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from medicare_client import Client, RPCError  # noqa: E402
from medicare.v1 import gateway_pb2, settlement_pb2  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7100)
    parser.add_argument("--certs", default="certs")
    parser.add_argument("--name", default="clinic-H33080200101")
    parser.add_argument("--clinic", default="H33080200101")
    parser.add_argument("--psn-no", default="P7")
    parser.add_argument("--mdtrt-id", default="MD20240601-0001")
    args = parser.parse_args()
    claim = settlement_pb2.Claim(
        mdtrt_id=args.mdtrt_id, psn_no=args.psn_no, fixmedins_code=args.clinic, med_type=settlement_pb2.MED_TYPE_GENERAL_OUTPATIENT,
        visit_date="2024-06-01", diagnoses=["J06.9"],
        lines=[settlement_pb2.FeeLine(item_code="001102000050000", quantity=1, unit_price=1000)],
    )
    try:
        with Client(host=args.host, port=args.port, certs=args.certs, name=args.name) as client:
            gateway = client.service("Gateway")
            settled = gateway.Settle(gateway_pb2.GatewaySettleRequest(claim=claim), idempotency_key=args.mdtrt_id)
            s = settled.settlement
            print(json.dumps({"step": "settle", "setl_id": s.setl_id, "medfee_sumamt": s.medfee_sumamt, "fund_pay_sumamt": s.fund_pay_sumamt,
                              "psn_cash_pay": s.psn_cash_pay, "replay": settled.replay}), flush=True)
            again = gateway.Settle(gateway_pb2.GatewaySettleRequest(claim=claim), idempotency_key=args.mdtrt_id)
            print(json.dumps({"step": "settle again", "setl_id": again.settlement.setl_id, "replay": again.replay}), flush=True)
            reversed_ = gateway.Reverse(gateway_pb2.GatewayReverseRequest(setl_id=s.setl_id, reason="entered twice"),
                                        idempotency_key=args.mdtrt_id + "-reversal")
            print(json.dumps({"step": "reverse", "setl_id": reversed_.setl_id, "reversal_id": reversed_.reversal_id}), flush=True)
            profile = gateway.GetInstitutionProfile(gateway_pb2.InstitutionProfileRequest(fixmedins_code=args.clinic))
            print(json.dumps({"step": "profile", "fixmedins_code": profile.institution.record.fixmedins_code,
                              "fixmedins_name": profile.institution.record.fixmedins_name, "settlements": profile.totals.settlements}, ensure_ascii=False), flush=True)
    except RPCError as error:
        sys.exit(f"settle_reverse_profile: {error.code}: {error.message}")


if __name__ == "__main__":
    main()
