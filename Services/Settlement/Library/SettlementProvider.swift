import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareStore
import MedicareWire

/// medicare.v1.Settlement: 1101 identity, 2206 pre-settlement, 2207 settlement, 2208 reversal.
public struct SettlementProvider: SettlementService {
    let store: SettlementStore
    let policies: PolicyBook
    let catalogue: [String: CatalogueItem]
    /// Told after each posting, so that its audit record leaves the outbox at once.
    let relay: AuditRelay?

    public init(store: SettlementStore, policies: PolicyBook, relay: AuditRelay? = nil) {
        self.store = store
        self.policies = policies
        self.relay = relay
        self.catalogue = Dictionary(uniqueKeysWithValues: policies.catalogue.map { ($0.code, $0) })
    }

    public func importPersons(_ request: ImportPersonsRequest, context: CallContext) async throws -> ImportPersonsResponse {
        guard request.persons.count <= 10_000 else { throw DomainError(field: "persons", "at most 10000 per call") }
        for (i, person) in request.persons.enumerated() {
            guard !person.psnNo.isEmpty, person.psnNo.utf8.count <= 32 else { throw DomainError(field: "persons[\(i)].psn_no", "must be 1-32 characters") }
            _ = try ResidentID(person.certno, field: "persons[\(i)].certno")
            guard ["310", "390"].contains(person.insutype) else { throw DomainError(field: "persons[\(i)].insutype", "must be 310 or 390") }
            guard person.insuAdmdvs.utf8.count == 6, Int(person.insuAdmdvs) != nil else { throw DomainError(field: "persons[\(i)].insu_admdvs", "must be 6 digits") }
            guard ["enrolled", "suspended"].contains(person.status) else { throw DomainError(field: "persons[\(i)].status", "must be enrolled or suspended") }
            guard person.accountBalance >= 0 else { throw DomainError(field: "persons[\(i)].account_balance", "must not be negative") }
        }
        var certnos = Set<String>()
        for (i, person) in request.persons.enumerated() where !certnos.insert(person.certno.uppercased()).inserted {
            throw DomainError(field: "persons[\(i)].certno", "appears twice in this batch")
        }
        do {
            try await store.importPersons(request.persons)
        } catch StoreError.constraint {
            throw DomainError(.precondition, field: "persons", "a certno in this batch is already registered to another psn_no")
        }
        return ImportPersonsResponse(imported: UInt32(request.persons.count))
    }

    public func verifyIdentity(_ request: VerifyIdentityRequest, context: CallContext) async throws -> VerifyIdentityResponse {
        let id = try ResidentID(request.certno)
        guard let person = try await store.person(certno: id.value) else {
            return VerifyIdentityResponse(valid: false, reason: "not insured", birthday: id.birthDate, gend: id.gender)
        }
        let enrolled = person.status == "enrolled"
        return VerifyIdentityResponse(
            person: person, valid: enrolled, reason: enrolled ? "" : "enrolment is \(person.status)", birthday: id.birthDate, gend: id.gender
        )
    }

    public func preSettle(_ request: SettleRequest, context: CallContext) async throws -> SettlementResult {
        let claim = try validated(request)
        guard let person = try await store.person(psnNo: claim.claim.psnNo) else {
            throw DomainError(.notFound, field: "claim.psn_no", "no insured person \(claim.claim.psnNo)")
        }
        let accumulator = try await store.accumulator(psnNo: person.psnNo, year: Int64(claim.visitDate.year), visitType: claim.claim.visitType)
        var result = try compute(claim, person: person, accumulator: accumulator)
        result.status = "presettled"
        return result
    }

    public func settle(_ request: SettleRequest, context: CallContext) async throws -> SettlementResult {
        let key = try idempotencyKey(context)
        let claim = try validated(request)
        let provider = self
        let result = try await store.settle(key: key, claim: claim) { person, accumulator in
            try provider.compute(claim, person: person, accumulator: accumulator)
        }
        relay?.nudge()
        return result
    }

    public func reverse(_ request: ReverseRequest, context: CallContext) async throws -> ReverseResponse {
        let key = try idempotencyKey(context)
        guard !request.setlID.isEmpty else { throw DomainError(field: "setl_id", "is required") }
        let response = try await store.reverse(key: key, setlID: request.setlID, reason: request.reason)
        relay?.nudge()
        return response
    }

    public func getSettlement(_ request: GetSettlementRequest, context: CallContext) async throws -> SettlementResult {
        guard let result = try await store.settlement(request.setlID) else {
            throw DomainError(.notFound, field: "setl_id", "no settlement \(request.setlID.prefix(40))")
        }
        return result
    }

    public func checkLedger(_ request: LedgerCheckRequest, context: CallContext) async throws -> LedgerCheckResponse {
        try await store.checkLedger()
    }

    // MARK: rules

    private func idempotencyKey(_ context: CallContext) throws -> String {
        guard let key = context.idempotencyKey, !key.isEmpty else {
            throw DomainError(field: "idempotency-key", "metadata 'idempotency-key' is required so that a retry is not posted twice")
        }
        return key
    }

    private func validated(_ request: SettleRequest) throws -> ValidatedClaim {
        guard let claim = request.claim else { throw DomainError(field: "claim", "is required") }
        if !claim.certno.isEmpty { _ = try ResidentID(claim.certno, field: "claim.certno") }
        return try ValidatedClaim(claim, catalogue: catalogue)
    }

    func compute(_ claim: ValidatedClaim, person: InsuredPerson, accumulator: SettlementStore.Accumulator) throws -> SettlementResult {
        guard person.status == "enrolled" else {
            throw DomainError(.precondition, field: "claim.psn_no", "person \(person.psnNo) is not enrolled (\(person.status))")
        }
        if !claim.claim.certno.isEmpty, claim.claim.certno.uppercased() != person.certno {
            throw DomainError(field: "claim.certno", "does not match person \(person.psnNo)")
        }
        let policy = try policies.policy(region: person.insuAdmdvs, on: claim.visitDate.description)
        let output = try BenefitCalculator.calculate(
            .init(
                lines: claim.lines, visitType: claim.claim.visitType, useAccount: claim.claim.useAccount,
                accountBalance: person.accountBalance, deductibleUsed: accumulator.deductibleUsed, fundPaidThisYear: accumulator.fundPaid
            ),
            policy: policy
        )
        return SettlementResult(
            mdtrtID: claim.claim.mdtrtID, psnNo: person.psnNo, fixmedinsCode: claim.clinic.value, settleVia: claim.settleVia.value,
            medfeeSumamt: output.medfeeSumamt, fulamtOwnpayAmt: output.fulamtOwnpayAmt, overlmtSelfpay: output.overlmtSelfpay,
            preselfpayAmt: output.preselfpayAmt, inscpScpAmt: output.inscpScpAmt, actPayDedc: output.actPayDedc, hifpPay: output.hifpPay,
            poolPropSelfpay: output.poolingRatio, fundPaySumamt: output.fundPaySumamt, acctPay: output.acctPay, psnCashPay: output.psnCashPay,
            overCeiling: output.overCeiling, policyVersion: policy.version,
            lines: output.lines.map {
                LineResult(itemCode: $0.itemCode, category: $0.category, amount: $0.amount, overlmtSelfpay: $0.overLimitSelfPay,
                           fulamtOwnpayAmt: $0.fullOwnPay, preselfpayAmt: $0.firstSelfPay, inscpScpAmt: $0.inScope)
            }
        )
    }
}
