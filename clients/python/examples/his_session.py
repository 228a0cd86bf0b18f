#!/usr/bin/env python3
"""A clinic HIS's outpatient session with only clients/python, as the national flow runs it:
9001 sign in, 2201 register the visit, 2203 diagnoses, 2204 fee details in two batches, 2205
undo one detail, 2206 pre-settle, 2207 settle, 2208 reverse, then the visit's status and
history. Prints one JSON line per step; exits 1 with the status on the first failure.

    python3 clients/python/examples/his_session.py --port 7100 --certs certs \\
        --name clinic-H33080200101 --psn-no P9 --ipt-otp-no OP20240601-0009
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
    parser.add_argument("--psn-no", default="P9")
    parser.add_argument("--ipt-otp-no", default="OP20240601-0009")
    parser.add_argument("--opter-no", default="D001")
    args = parser.parse_args()

    def step(name, **fields):
        print(json.dumps({"step": name, **fields}, ensure_ascii=False), flush=True)

    try:
        with Client(host=args.host, port=args.port, certs=args.certs, name=args.name) as client:
            settlement, gateway = client.service("Settlement"), client.service("Gateway")
            signed = settlement.SignIn(settlement_pb2.SignInRequest(fixmedins_code=args.clinic, opter_no=args.opter_no, opter_name="赵医生"))
            step("9001", sign_no=signed.sign_no)
            visit = settlement.RegisterVisit(settlement_pb2.RegisterVisitRequest(
                fixmedins_code=args.clinic, ipt_otp_no=args.ipt_otp_no, psn_no=args.psn_no, insutype=settlement_pb2.INSUTYPE_RESIDENT_BASIC,
                med_type=settlement_pb2.MED_TYPE_GENERAL_OUTPATIENT, begntime="2024-06-01", atddr_no="DR01", opter_no=args.opter_no,
                mdtrt_cert_type=settlement_pb2.MDTRT_CERT_TYPE_SOCIAL_SECURITY_CARD, mdtrt_cert_no="A33080200" + args.psn_no))
            step("2201", mdtrt_id=visit.mdtrt_id)
            ref = settlement_pb2.VisitRef(fixmedins_code=args.clinic, mdtrt_id=visit.mdtrt_id)
            settlement.UploadDiagnoses(settlement_pb2.UploadDiagnosesRequest(
                fixmedins_code=args.clinic, mdtrt_id=visit.mdtrt_id, diagnoses=["J06.9"], opter_no=args.opter_no))
            step("2203")

            def detail(sn, item, own, cnt, pric):
                return settlement_pb2.FeeDetail(feedetl_sn=sn, med_list_codg=item, medins_list_codg=own, cnt=cnt, pric=pric, bilg_dr_codg="DR01")
            for batch in ([detail("1", "001102000050000", "GH01", 1, 1000)], [detail("2", "XJ01CAA040A001010100001", "YP0007", 20, 50), detail("3", "XJ01CAA040A001010100001", "YP0007", 5, 50)]):
                uploaded = settlement.UploadFeeDetails(settlement_pb2.UploadFeeDetailsRequest(
                    fixmedins_code=args.clinic, mdtrt_id=visit.mdtrt_id, details=batch, opter_no=args.opter_no))
                step("2204", details=len(uploaded.details))
            undone = settlement.UndoFeeDetails(settlement_pb2.UndoFeeDetailsRequest(
                fixmedins_code=args.clinic, mdtrt_id=visit.mdtrt_id, feedetl_sns=["3"], opter_no=args.opter_no))
            step("2205", details=len(undone.details))
            preview = gateway.Settle(gateway_pb2.GatewaySettleRequest(visit=ref, pre_settle=True))
            step("2206", medfee_sumamt=preview.settlement.medfee_sumamt, hifp_pay=preview.settlement.hifp_pay)
            settled = gateway.Settle(gateway_pb2.GatewaySettleRequest(visit=ref), idempotency_key=args.ipt_otp_no)
            step("2207", setl_id=settled.settlement.setl_id, hifp_pay=settled.settlement.hifp_pay, psn_cash_pay=settled.settlement.psn_cash_pay)
            reversed_ = gateway.Reverse(gateway_pb2.GatewayReverseRequest(setl_id=settled.settlement.setl_id, reason="patient returned the drugs"),
                                        idempotency_key=args.ipt_otp_no + "-reversal")
            step("2208", reversal_id=reversed_.reversal_id)
            final = settlement.GetVisit(ref)
            step("visit", status=settlement_pb2.VisitStatus.Name(final.status),
                 history=[settlement_pb2.VisitEventKind.Name(e.kind) for e in final.history])
    except RPCError as error:
        sys.exit(f"his_session: {error.code}: {error.message}")


if __name__ == "__main__":
    main()
