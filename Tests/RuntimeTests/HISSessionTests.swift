import Foundation
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareTransport
import MedicareTestSupport
import MedicareWire
import Testing

/// A clinic's HIS session as the national flow runs it, through the gateway over mutual TLS:
/// 9001 sign in, 2201 register, 2203 diagnoses, 2204 fee details in two batches, 2205 undo
/// one, 2206 pre-settle, 2207 settle, 2208 reverse; the visit's status and history follow.
@Suite("HIS session", .serialized)
struct HISSessionTests {
    static let code = "H33080200101"

    /// The demo clinic's connection, its settlement and gateway clients, operator D001 signed in (9001).
    static func signedIn(_ stack: Stack) async throws -> (RPCClient, SettlementClient, GatewayClient) {
        let clinic = try stack.client("clinic-\(code)")
        let settlement = SettlementClient(clinic)
        _ = try await settlement.signIn(SignInRequest(fixmedinsCode: code, opterNo: "D001", opterName: "赵医生"))
        return (clinic, settlement, GatewayClient(clinic))
    }

    @Test func signInRegisterUploadUndoPreSettleSettleReverse() async throws {
        try await withDemoStack { stack in
            let (clinic, settlement, gateway) = try await Self.signedIn(stack)
            let code = Self.code

            // P3 presents the resident ID the demo registered for it (02).
            let first17 = "330802" + String(format: "%04d%02d%02d%03d", 1953, 1, 4, 1)
            let registration = RegisterVisitRequest(
                fixmedinsCode: code, iptOtpNo: "OP-20240601-1", psnNo: "P3", insutype: .residentBasic, medType: .generalOutpatient,
                begntime: "2024-06-01", atddrNo: "DR01", opterNo: "D001", mdtrtCertType: .idCard, mdtrtCertNo: first17 + String(ResidentID.checkCharacter(first17))
            )
            let visit = try await settlement.registerVisit(registration)
            #expect(visit.mdtrtID.hasPrefix("M") && visit.status == .registered && !visit.replay)
            // The HIS retries its registration: the same visit.
            let again = try await settlement.registerVisit(registration)
            #expect(again.mdtrtID == visit.mdtrtID && again.replay)
            // An operator who has not signed in today is refused, naming the field.
            var stranger = registration
            stranger.iptOtpNo = "OP-20240601-2"
            stranger.opterNo = "D999"
            let refused = await #expect(throws: RPCError.self) { _ = try await settlement.registerVisit(stranger) }
            #expect(refused?.code == .failedPrecondition && refused?.message.hasPrefix("opter_no:") == true)

            #expect(visit.mdtrtCertType == .idCard && visit.mdtrtCertNo == registration.mdtrtCertNo)
            // Another person's resident ID, or no certificate type, is refused, naming the field.
            var someoneElse = registration
            someoneElse.iptOtpNo = "OP-20240601-4"
            let other17 = "330802" + String(format: "%04d%02d%02d%03d", 1954, 1, 5, 1)
            someoneElse.mdtrtCertNo = other17 + String(ResidentID.checkCharacter(other17))
            let wrongID = await #expect(throws: RPCError.self) { _ = try await settlement.registerVisit(someoneElse) }
            #expect(wrongID?.code == .failedPrecondition && wrongID?.message.hasPrefix("mdtrt_cert_no:") == true, "\(String(describing: wrongID))")
            someoneElse.mdtrtCertType = .unspecified
            let noType = await #expect(throws: RPCError.self) { _ = try await settlement.registerVisit(someoneElse) }
            #expect(noType?.code == .invalidArgument && noType?.message.hasPrefix("mdtrt_cert_type:") == true)
            // A doctor not registered with the clinic is refused, naming the field.
            var unknownDoctor = registration
            unknownDoctor.iptOtpNo = "OP-20240601-3"
            unknownDoctor.atddrNo = "DR99"
            let notOurs = await #expect(throws: RPCError.self) { _ = try await settlement.registerVisit(unknownDoctor) }
            #expect(notOurs?.code == .failedPrecondition && notOurs?.message.hasPrefix("atddr_no:") == true, "\(String(describing: notOurs))")

            let ref = VisitRef(fixmedinsCode: code, mdtrtID: visit.mdtrtID)
            _ = try await settlement.uploadDiagnoses(UploadDiagnosesRequest(fixmedinsCode: code, mdtrtID: visit.mdtrtID, diagnoses: ["J06.9"], opterNo: "D001"))
            func detail(_ sn: String, _ item: String, _ own: String, _ cnt: Int64, _ pric: Int64) -> FeeDetail {
                FeeDetail(feedetlSn: sn, medListCodg: item, medinsListCodg: own, cnt: cnt, pric: pric, bilgDrCodg: "DR01", days: 1)
            }
            _ = try await settlement.uploadFeeDetails(UploadFeeDetailsRequest(
                fixmedinsCode: code, mdtrtID: visit.mdtrtID, details: [detail("1", "001102000050000", "GH01", 1, 1000)], opterNo: "D001"))
            let second = UploadFeeDetailsRequest(fixmedinsCode: code, mdtrtID: visit.mdtrtID, details: [
                detail("2", "XJ01CAA040A001010100001", "YP0007", 20, 50), detail("3", "XJ01CAA040A001010100001", "YP0007", 5, 50),
            ], opterNo: "D001")
            _ = try await settlement.uploadFeeDetails(second)
            // The same batch again changes nothing; a number reused for other content is refused.
            #expect(try await settlement.uploadFeeDetails(second).details.count == 3)
            var changed = second
            changed.details[0].cnt = 21
            #expect(await #expect(throws: RPCError.self) { _ = try await settlement.uploadFeeDetails(changed) }?.code == .alreadyExists)
            var strangerDoctor = second
            strangerDoctor.details = [FeeDetail(feedetlSn: "9", medListCodg: "001102000050000", medinsListCodg: "GH01", cnt: 1, pric: 1000, bilgDrCodg: "DR77")]
            let prescriber = await #expect(throws: RPCError.self) { _ = try await settlement.uploadFeeDetails(strangerDoctor) }
            #expect(prescriber?.code == .failedPrecondition && prescriber?.message.hasPrefix("details[0].bilg_dr_codg:") == true)
            let undone = try await settlement.undoFeeDetails(UndoFeeDetailsRequest(fixmedinsCode: code, mdtrtID: visit.mdtrtID, feedetlSns: ["3"], opterNo: "D001"))
            #expect(undone.details.map(\.feedetlSn) == ["1", "2"])

            // 2206 then 2207 by reference to the visit: 10.00 + 20 x 0.50 = 20.00, all 甲; Quzhou 60%.
            let preview = try await gateway.settle(GatewaySettleRequest(preSettle: true, visit: ref))
            #expect(preview.settlement?.hifpPay == 1200 && preview.settlement?.setlID == "")
            #expect(try await settlement.getVisit(ref).status == .registered)
            let settled = try await gateway.settle(GatewaySettleRequest(visit: ref), options: keyed("his-1"))
            let setlID = try #require(settled.settlement?.setlID)
            #expect(settled.settlement?.hifpPay == 1200 && settled.settlement?.psnCashPay == 800 && settled.settlement?.mdtrtID == visit.mdtrtID)
            let after = try await settlement.getVisit(ref)
            #expect(after.status == .settled && after.setlID == setlID)
            // Frozen while settled.
            let frozen = await #expect(throws: RPCError.self) {
                _ = try await settlement.undoFeeDetails(UndoFeeDetailsRequest(fixmedinsCode: code, mdtrtID: visit.mdtrtID, opterNo: "D001"))
            }
            #expect(frozen?.code == .failedPrecondition)

            _ = try await gateway.reverse(GatewayReverseRequest(setlID: setlID, reason: "patient returned the drugs"), options: keyed("his-2"))
            let reversed = try await settlement.getVisit(ref)
            #expect(reversed.status == .reversed && reversed.setlID == setlID)
            #expect(reversed.history.map(\.kind) == [.registered, .diagnosesUploaded, .detailsUploaded, .detailsUploaded, .detailsUndone, .settled, .reversed],
                    "\(reversed.history.map(\.kind))")
            #expect(reversed.history.first?.opterNo == "D001")

            // Another institution's visit is not this clinic's to read or settle.
            let elsewhere = VisitRef(fixmedinsCode: "H33080200102", mdtrtID: visit.mdtrtID)
            #expect(await #expect(throws: RPCError.self) { _ = try await settlement.getVisit(elsewhere) }?.code == .permissionDenied)
            // Nor to settle by reference: refused before the visit is read (a clinic learns
            // nothing of whether it exists there).
            let notHers = await #expect(throws: RPCError.self) {
                _ = try await gateway.settle(GatewaySettleRequest(visit: elsewhere), options: keyed("his-3"))
            }
            #expect(notHers?.code == .permissionDenied, "\(String(describing: notHers))")
            // A visit day after today is out of form.
            var future = registration
            future.iptOtpNo = "OP-20991231-1"
            future.begntime = "2099-12-31"
            let tooLate = await #expect(throws: RPCError.self) { _ = try await settlement.registerVisit(future) }
            #expect(tooLate?.code == .invalidArgument && tooLate?.message.hasPrefix("begntime:") == true)
            await clinic.close()
        }
    }

    /// A registered visit is settled only with the details it holds when the posting commits:
    /// details uploaded after the visit was read make the claim read before stale (the race of
    /// 2204 against 2207), and a whole claim that borrows a registered visit's number with
    /// other lines is not the visit's; both are refused in the posting's transaction, naming
    /// `claim.mdtrt_id`, and the visit settles by reference with what it holds.
    @Test func aRegisteredVisitIsSettledOnlyWithTheDetailsItHolds() async throws {
        try await withDemoStack { stack in
            let (clinic, settlement, gateway) = try await Self.signedIn(stack)
            let code = Self.code
            let visit = try await settlement.registerVisit(RegisterVisitRequest(
                fixmedinsCode: code, iptOtpNo: "OP-RACE-1", psnNo: "P5", insutype: .residentBasic, medType: .generalOutpatient,
                begntime: "2024-06-01", atddrNo: "DR01", opterNo: "D001", mdtrtCertType: .ecard, mdtrtCertNo: "EC-TOKEN-0001"
            ))
            let ref = VisitRef(fixmedinsCode: code, mdtrtID: visit.mdtrtID)
            _ = try await settlement.uploadDiagnoses(UploadDiagnosesRequest(fixmedinsCode: code, mdtrtID: visit.mdtrtID, diagnoses: ["J06.9"], opterNo: "D001"))
            func upload(_ sn: String, _ item: String, _ own: String, _ cnt: Int64, _ pric: Int64) async throws {
                _ = try await settlement.uploadFeeDetails(UploadFeeDetailsRequest(fixmedinsCode: code, mdtrtID: visit.mdtrtID, details: [
                    FeeDetail(feedetlSn: sn, medListCodg: item, medinsListCodg: own, cnt: cnt, pric: pric, bilgDrCodg: "DR01", days: 1),
                ], opterNo: "D001"))
            }
            try await upload("1", "XJ01CAA040A001010100001", "YP0007", 10, 50)
            // What an HIS (or the gateway) read, then another batch lands before the settle.
            let read = try #require(try await settlement.getVisit(ref).claim)
            try await upload("2", "001102000050000", "GH01", 1, 1000)
            let stale = await #expect(throws: RPCError.self) { _ = try await gateway.settle(GatewaySettleRequest(claim: read), options: keyed("race-1")) }
            #expect(stale?.code == .failedPrecondition && stale?.message.hasPrefix("claim.mdtrt_id:") == true, "\(String(describing: stale))")
            // A whole claim under the visit's number with lines of its own is not the visit's.
            var borrowed = read
            borrowed.lines = [FeeLine(itemCode: "XJ01CAA040A001010100001", quantity: 3, unitPrice: 50, days: 1)]
            let foreign = await #expect(throws: RPCError.self) { _ = try await gateway.settle(GatewaySettleRequest(claim: borrowed), options: keyed("race-2")) }
            #expect(foreign?.code == .failedPrecondition && foreign?.message.hasPrefix("claim.mdtrt_id:") == true, "\(String(describing: foreign))")
            #expect(try await settlement.getVisit(ref).status == .registered)
            // By reference it settles what it holds: 10 x 0.50 + 10.00 = 15.00.
            let settled = try await gateway.settle(GatewaySettleRequest(visit: ref), options: keyed("race-3"))
            #expect(settled.settlement?.medfeeSumamt == 1500 && settled.settlement?.mdtrtID == visit.mdtrtID)
            #expect(try await settlement.getVisit(ref).status == .settled)
            await clinic.close()
        }
    }

    /// A gateway keeps the claim of a visit's last fee-detail upload through it (2204) and
    /// settles the visit by reference with it, without reading the visit again (settlement
    /// counts no `GetVisit`). Details uploaded through another gateway meanwhile make that
    /// claim stale, and whatever refuses it, the first gateway reads the visit and settles
    /// what it holds: settlement's check of the details (FAILED_PRECONDITION), or the visit
    /// already settled through the other gateway (ALREADY_EXISTS: the retry under a new key
    /// gets that settlement). A pre-settle (2206) reads the visit. Once settled, the visit is
    /// frozen whichever gateway asks.
    @Test func aVisitChangedThroughAnotherGatewaySettlesWithTheDetailsItHolds() async throws {
        try await withDemoStack { stack in
            let (clinic, settlement, gateway) = try await Self.signedIn(stack)
            let code = Self.code
            let second = try await RunningService.start("gateway", folder: stack.folder, extra: [
                "--store.url", "sqlite:\(stack.folder)/gateway-2.sqlite", "--upstream.registry", "127.0.0.1:\(stack.registry.rpcPort)",
                "--upstream.settlement", "127.0.0.1:\(stack.settlement.rpcPort)", "--upstream.supervision", "127.0.0.1:\(stack.supervision.rpcPort)",
            ])
            do {
                let otherClinic = try StackClients(folder: stack.folder, gatewayPort: second.rpcPort).client("clinic-\(code)")
                let elsewhere = SettlementClient(otherClinic), otherGateway = GatewayClient(otherClinic)
                /// Settlement's count of `GetVisit` calls so far.
                func reads() async throws -> Int {
                    let (_, metrics) = try await stack.settlement.get("/metrics")
                    let line = metrics.split(separator: "\n").first { $0.hasPrefix("medicare_rpc_duration_seconds_count{method=\"medicare.v1.Settlement/GetVisit\"}") }
                    return line.flatMap { $0.split(separator: " ").last.flatMap { Int($0) } } ?? 0
                }
                /// A visit of `person` registered through the first gateway, its diagnosis uploaded.
                func visit(_ person: Int) async throws -> VisitRef {
                    let visit = try await settlement.registerVisit(RegisterVisitRequest(
                        fixmedinsCode: code, iptOtpNo: "OP-TWO-GW-\(person)", psnNo: "P\(person)", insutype: .residentBasic, medType: .generalOutpatient,
                        begntime: "2024-06-01", atddrNo: "DR01", opterNo: "D001", mdtrtCertType: .ecard, mdtrtCertNo: "EC-TOKEN-\(person)"
                    ))
                    _ = try await settlement.uploadDiagnoses(UploadDiagnosesRequest(fixmedinsCode: code, mdtrtID: visit.mdtrtID, diagnoses: ["J06.9"], opterNo: "D001"))
                    return VisitRef(fixmedinsCode: code, mdtrtID: visit.mdtrtID)
                }
                /// 10 x 0.50 (serial 1) or 1 x 10.00 (serial 2) uploaded through `through`.
                func upload(_ through: SettlementClient, _ ref: VisitRef, _ sn: String) async throws {
                    let (item, own, cnt, pric): (String, String, Int64, Int64) = sn == "1" ? ("XJ01CAA040A001010100001", "YP0007", 10, 50) : ("001102000050000", "GH01", 1, 1000)
                    _ = try await through.uploadFeeDetails(UploadFeeDetailsRequest(fixmedinsCode: code, mdtrtID: ref.mdtrtID, details: [
                        FeeDetail(feedetlSn: sn, medListCodg: item, medinsListCodg: own, cnt: cnt, pric: pric, bilgDrCodg: "DR01", days: 1),
                    ], opterNo: "D001"))
                }

                // Uploaded and settled through one gateway: settled without a read.
                let plain = try await visit(8)
                try await upload(settlement, plain, "1")
                let before = try await reads()
                #expect(try await gateway.settle(GatewaySettleRequest(visit: plain), options: keyed("two-gw-0")).settlement?.medfeeSumamt == 500)
                #expect(try await reads() == before)

                // The first gateway keeps 10 x 0.50; the second adds 10.00 behind its back.
                let changed = try await visit(7)
                try await upload(settlement, changed, "1")
                try await upload(elsewhere, changed, "2")
                let settled = try await gateway.settle(GatewaySettleRequest(visit: changed), options: keyed("two-gw-1"))
                #expect(settled.settlement?.medfeeSumamt == 1500 && settled.settlement?.mdtrtID == changed.mdtrtID, "\(String(describing: settled.settlement))")
                #expect(try await reads() == before + 1)
                // The same key again answers the same settlement.
                let again = try await gateway.settle(GatewaySettleRequest(visit: changed), options: keyed("two-gw-1"))
                #expect(again.replay && again.settlement?.setlID == settled.settlement?.setlID)
                // Settled: another upload is refused through either gateway, naming the visit.
                for through in [settlement, elsewhere] {
                    let frozen = await #expect(throws: RPCError.self) { try await upload(through, changed, "3") }
                    #expect(frozen?.code == .failedPrecondition && frozen?.message.hasPrefix("mdtrt_id:") == true, "\(String(describing: frozen))")
                }

                // Settled through the second gateway with what it holds; the HIS, its answer lost,
                // asks the first under a new key: the settlement it has, not ALREADY_EXISTS.
                let lost = try await visit(10)
                try await upload(settlement, lost, "1")
                try await upload(elsewhere, lost, "2")
                let first = try await otherGateway.settle(GatewaySettleRequest(visit: lost), options: keyed("two-gw-2"))
                let retried = try await gateway.settle(GatewaySettleRequest(visit: lost), options: keyed("two-gw-3"))
                #expect(retried.replay && retried.settlement?.setlID == first.settlement?.setlID && retried.settlement?.medfeeSumamt == 1500,
                        "\(String(describing: retried))")

                // A pre-settle reads the visit (a preview is not checked against its details), and
                // leaves the kept claim to the settle, which settlement refuses and the gateway reads.
                let previewed = try await visit(13)
                try await upload(settlement, previewed, "1")
                try await upload(elsewhere, previewed, "2")
                let preview = try await gateway.settle(GatewaySettleRequest(preSettle: true, visit: previewed))
                #expect(preview.settlement?.medfeeSumamt == 1500 && preview.settlement?.setlID == "")
                let final = try await gateway.settle(GatewaySettleRequest(visit: previewed), options: keyed("two-gw-4"))
                #expect(final.settlement?.medfeeSumamt == 1500 && !final.replay)
                await otherClinic.close()
            } catch {
                second.child.signal(SIGTERM)
                _ = try? await second.child.wait()
                throw error
            }
            second.child.signal(SIGTERM)
            _ = try? await second.child.wait()
            await clinic.close()
        }
    }

    /// 2503 and a family-doctor contract through the gateway, then a chronic outpatient visit
    /// (2201 med_type 14) settled by reference: 65% at the contracted clinic (notice 003 §六),
    /// 30 x 1.20 = 36.00 yuan of a 两病 drug → fund 23.40. A person without a registered
    /// condition is refused, naming med_type; a clinic registers only for itself.
    @Test func aRegisteredChronicConditionAtTheContractedClinicSettlesAtSixtyFivePercent() async throws {
        try await withDemoStack { stack in
            let (clinic, settlement, gateway) = try await Self.signedIn(stack)
            let code = Self.code
            // Registrations and contracts begin within a year of today; the visit is recent.
            func day(_ n: Int) -> String { CivilDate.today(in: TimeZone(identifier: "Asia/Shanghai")!).adding(days: n).description }
            let registered = try await settlement.registerChronicCondition(ChronicRegistration(
                psnNo: "P11", opspDiseCode: "I10", opspDiseName: "高血压", ideFixmedinsNo: code, diagDrCodg: "DR01", begndate: day(-300), opterNo: "D001"))
            #expect(registered.trtDclaDetlSn.hasPrefix("D") && !registered.replay)
            _ = try await settlement.signFamilyDoctorContract(FamilyDoctorContract(psnNo: "P11", fixmedinsCode: code, drCode: "DR01", begndate: day(-300), opterNo: "D001"))
            let elsewhere = await #expect(throws: RPCError.self) {
                _ = try await settlement.registerChronicCondition(ChronicRegistration(
                    psnNo: "P11", opspDiseCode: "E11", opspDiseName: "糖尿病", ideFixmedinsNo: "H33080200102", diagDrCodg: "DR01", begndate: day(-300), opterNo: "D001"))
            }
            #expect(elsewhere?.code == .permissionDenied)

            func chronicVisit(_ psnNo: String, _ number: String) async throws -> VisitRef {
                let visit = try await settlement.registerVisit(RegisterVisitRequest(
                    fixmedinsCode: code, iptOtpNo: number, psnNo: psnNo, insutype: .residentBasic, medType: .chronicOutpatient,
                    begntime: day(-10), atddrNo: "DR01", opterNo: "D001", mdtrtCertType: .ecard, mdtrtCertNo: "EC-" + number))
                _ = try await settlement.uploadDiagnoses(UploadDiagnosesRequest(fixmedinsCode: code, mdtrtID: visit.mdtrtID, diagnoses: ["I10"], opterNo: "D001"))
                _ = try await settlement.uploadFeeDetails(UploadFeeDetailsRequest(fixmedinsCode: code, mdtrtID: visit.mdtrtID, details: [
                    FeeDetail(feedetlSn: "1", medListCodg: "XC08CAX052B002010100002", medinsListCodg: "YP0101", cnt: 30, pric: 120, bilgDrCodg: "DR01", days: 30),
                ], opterNo: "D001"))
                return VisitRef(fixmedinsCode: code, mdtrtID: visit.mdtrtID)
            }
            let settled = try await gateway.settle(GatewaySettleRequest(visit: try await chronicVisit("P11", "OP-CH-1")), options: keyed("ch-1"))
            #expect(settled.settlement?.settledAs == .chronicOutpatient && settled.settlement?.hifpPay == 2_340 && settled.settlement?.poolPropSelfpay == 6_500,
                    "\(String(describing: settled.settlement))")
            let unregistered = await #expect(throws: RPCError.self) {
                _ = try await gateway.settle(GatewaySettleRequest(visit: try await chronicVisit("P12", "OP-CH-2")), options: keyed("ch-2"))
            }
            #expect(unregistered?.code == .failedPrecondition && unregistered?.message.hasPrefix("claim.med_type:") == true, "\(String(describing: unregistered))")
            let first17 = "330802" + String(format: "%04d%02d%02d%03d", 1961, 1, 12, 1)
            let standing = try await settlement.getChronicStanding(ChronicStandingRequest(
                psnNo: "P11", date: day(-10), certno: first17 + String(ResidentID.checkCharacter(first17))))
            #expect(standing.registrations.count == 1 && standing.contract?.drCode == "DR01")
            await clinic.close()
        }
    }

    /// Policy keyed by institution level, end to end: with a policy file that gives Quzhou's
    /// village clinics 70% (and leaves township centres on quzhou-2024.1's 60%), a claim at the
    /// village clinic is settled under the clinic-level version, because the gateway passes
    /// on the clinic's kind from the registry's route; one at the township centre is not.
    @Test func aPolicyForVillageClinicsAppliesToTheirClaimsOnly() async throws {
        let folder = NSTemporaryDirectory() + "levels-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var book = try PolicyBook.bundled()
        var clinics = try #require(book.policies.first { $0.version == "quzhou-2024.1" })
        clinics.version = "quzhou-2024.1-village"
        clinics.institutionKinds = ["village_clinic"]
        clinics.poolingRatio["general_outpatient"] = 7_000
        book.policies.append(clinics)
        try JSONEncoder().encode(book).write(to: URL(fileURLWithPath: "\(folder)/policy.json"))
        let stack = try await Stack(settlementExtra: ["--policy.file", "\(folder)/policy.json"])
        do {
            try await stack.loadDemo()
            // 001102000050000 10.00 + 20 x 0.50 = 20.00, all 甲 in scope.
            let clinic = try stack.client("clinic-\(Self.code)")
            let atClinic = try await GatewayClient(clinic).settle(stackClaim("LV1"), options: keyed("lv-1"))
            #expect(atClinic.settlement?.policyVersion == "quzhou-2024.1-village" && atClinic.settlement?.hifpPay == 1_400, "\(String(describing: atClinic.settlement))")
            let centreCode = "H33080200001"
            let centre = try stack.client("township-\(centreCode)")
            var request = stackClaim("LV2", person: 1)
            request.claim?.fixmedinsCode = centreCode
            let atCentre = try await GatewayClient(centre).settle(request, options: keyed("lv-2"))
            #expect(atCentre.settlement?.policyVersion == "quzhou-2024.1" && atCentre.settlement?.hifpPay == 1_200, "\(String(describing: atCentre.settlement))")
            await clinic.close()
            await centre.close()
        } catch {
            await stack.stop()
            throw error
        }
        await stack.stop()
    }

    /// The same session by an HIS vendor's Python with only `clients/python` (generated from
    /// `Proto/`, stock protobuf, Python's ssl).
    @Test func thePythonClientRunsTheSameSession() async throws {
        try await withDemoStack { stack in
            let root = Executables.repositoryRoot.path
            let result = try await runCommand("/usr/bin/env", [
                "python3", "\(root)/clients/python/examples/his_session.py", "--port", "\(stack.gateway.rpcPort)",
                "--certs", "\(stack.folder)/certs", "--name", "clinic-H33080200101", "--psn-no", "P9", "--ipt-otp-no", "OP-PY-1",
            ])
            #expect(result.status == 0, "\(result.error)")
            let steps = String(decoding: result.output, as: UTF8.self).split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            #expect(steps.map { $0["step"] as? String } == ["9001", "2201", "2203", "2204", "2204", "2205", "2206", "2207", "2208", "visit"], "\(steps)")
            guard steps.count == 10 else { return }
            #expect(steps[5]["details"] as? Int == 2 && steps[6]["hifp_pay"] as? Int == 1200 && steps[7]["psn_cash_pay"] as? Int == 800)
            #expect(steps[9]["status"] as? String == "VISIT_STATUS_REVERSED")
            #expect((steps[9]["history"] as? [String])?.last == "VISIT_EVENT_KIND_REVERSED")
        }
    }
}
