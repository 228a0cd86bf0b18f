import Foundation
import MedicareTestSupport
import Testing

/// The JSON bridge as an HIS vendor uses it: curl with the clinic's client certificate
/// settles, replays, reverses and reads the profile; what is wrong answers the gRPC code's
/// HTTP status with a JSON error naming the field.
@Suite("JSON bridge over HTTPS", .serialized)
struct JSONBridgeTests {
    /// `curl` as `identity` (a certificate in the stack's folder): the status and the body as JSON.
    static func curl(
        _ stack: Stack, _ path: String, as identity: String = "clinic-H33080200101", body: String? = nil, headers: [String] = []
    ) async throws -> (status: Int, json: [String: Any]) {
        let certs = "\(stack.folder)/certs"
        var arguments = [
            "--silent", "--show-error", "--cacert", "\(certs)/ca.pem", "--cert", "\(certs)/\(identity).pem", "--key", "\(certs)/\(identity).key",
            "--write-out", "\n%{http_code}", "https://localhost:\(stack.gateway.bridgePort)\(path)",
        ]
        if let body { arguments += ["--data-binary", body, "--header", "content-type: application/json"] }
        for header in headers { arguments += ["--header", header] }
        let result = try await runCommand("/usr/bin/curl", arguments)
        let text = String(decoding: result.output, as: UTF8.self)
        let status = Int(text.split(separator: "\n").last ?? "") ?? 0
        let json = text.split(separator: "\n").dropLast().joined(separator: "\n")
        return (status, (try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]) ?? [:])
    }

    static let claim = """
        {"claim": {"mdtrt_id": "MD-BRIDGE-0001", "psn_no": "P7", "fixmedins_code": "H33080200101", "med_type": "general_outpatient",
          "visit_date": "2024-06-01", "diagnoses": ["J06.9"], "lines": [{"item_code": "001102000050000", "quantity": 1, "unit_price": 1000}]}}
        """

    @Test func curlSettlesReversesAndReadsTheProfile() async throws {
        try await withDemoStack { stack in
            let settled = try await Self.curl(stack, "/v1/Gateway/Settle", body: Self.claim, headers: ["Idempotency-Key: bridge-0001"])
            #expect(settled.status == 200, "\(settled)")
            let settlement = settled.json["settlement"] as? [String: Any]
            let setlID = try #require(settlement?["setl_id"] as? String)
            #expect((settlement?["medfee_sumamt"] as? Int) == 1000)

            // The same key and claim: the stored answer, marked as a replay.
            let again = try await Self.curl(stack, "/v1/Gateway/Settle", body: Self.claim, headers: ["Idempotency-Key: bridge-0001"])
            #expect(again.status == 200 && (again.json["settlement"] as? [String: Any])?["setl_id"] as? String == setlID && again.json["replay"] as? Bool == true)

            let profile = try await Self.curl(stack, "/v1/Gateway/GetInstitutionProfile", body: #"{"fixmedins_code": "H33080200101"}"#)
            #expect(profile.status == 200 && ((profile.json["institution"] as? [String: Any])?["record"] as? [String: Any])?["fixmedins_code"] as? String == "H33080200101", "\(profile)")
            #expect((profile.json["totals"] as? [String: Any])?["settlements"] as? Int == 1)

            let reversed = try await Self.curl(
                stack, "/v1/Gateway/Reverse", body: #"{"setl_id": "\#(setlID)", "reason": "entered twice"}"#, headers: ["Idempotency-Key: bridge-0001-rev"]
            )
            #expect(reversed.status == 200 && reversed.json["setl_id"] as? String == setlID && reversed.json["reversal_id"] as? String != nil, "\(reversed)")

            // What is wrong: a typo in a field (400 naming the path), another clinic's profile
            // (403), a method that does not exist (404), an unkeyed settle (400).
            let typo = try await Self.curl(stack, "/v1/Gateway/Settle", body: #"{"claim": {"mdtrt_idd": "x"}}"#, headers: ["Idempotency-Key: bridge-0002"])
            #expect(typo.status == 400 && typo.json["code"] as? String == "invalid_argument" && (typo.json["message"] as? String)?.contains("mdtrt_idd") == true, "\(typo)")
            let other = try await Self.curl(stack, "/v1/Gateway/GetInstitutionProfile", body: #"{"fixmedins_code": "H33080200102"}"#)
            #expect(other.status == 403 && other.json["code"] as? String == "permission_denied", "\(other)")
            let missing = try await Self.curl(stack, "/v1/Gateway/NoSuchMethod", body: "{}")
            #expect(missing.status == 404 && missing.json["code"] as? String == "unimplemented")
            let unkeyed = try await Self.curl(stack, "/v1/Gateway/Settle", body: Self.claim)
            #expect(unkeyed.status == 400 && (unkeyed.json["message"] as? String)?.contains("idempotency-key") == true, "\(unkeyed)")

            // Only JSON is taken: a form post (what a hostile page can make a browser send
            // with the clinic's certificate, without asking first) is refused, unserved.
            let form = try await runCommand("/usr/bin/curl", [
                "--silent", "--cacert", "\(stack.folder)/certs/ca.pem", "--cert", "\(stack.folder)/certs/clinic-H33080200101.pem",
                "--key", "\(stack.folder)/certs/clinic-H33080200101.key", "--write-out", "\n%{http_code}", "--data", #"{"fixmedins_code": "H33080200101"}"#,
                "https://localhost:\(stack.gateway.bridgePort)/v1/Gateway/GetInstitutionProfile",
            ])
            #expect(String(decoding: form.output, as: UTF8.self).hasSuffix("\n415"), "\(String(decoding: form.output, as: UTF8.self))")

            // The methods as the bridge serves them.
            let methods = try await Self.curl(stack, "/v1/methods")
            let paths = (methods.json["methods"] as? [[String: Any]])?.compactMap { $0["path"] as? String } ?? []
            #expect(paths.contains("/v1/Gateway/Settle") && paths.contains("/v1/Settlement/GetSettlement"), "\(paths.prefix(5))")
        }
    }

    /// An HIS vendor's Python, with only `clients/python` (stock protobuf, Python's ssl) over
    /// the framed protocol: settle, the same settle again (the stored answer), reverse, profile.
    @Test func thePythonClientSettlesReversesAndReadsTheProfile() async throws {
        try await withDemoStack { stack in
            let root = Executables.repositoryRoot.path
            let result = try await runCommand("/usr/bin/env", [
                "python3", "\(root)/clients/python/examples/settle_reverse_profile.py", "--port", "\(stack.gateway.rpcPort)",
                "--certs", "\(stack.folder)/certs", "--name", "clinic-H33080200101", "--psn-no", "P8", "--mdtrt-id", "MD-PY-0001",
            ])
            #expect(result.status == 0, "\(result.error)")
            let steps = String(decoding: result.output, as: UTF8.self).split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            #expect(steps.map { $0["step"] as? String } == ["settle", "settle again", "reverse", "profile"], "\(steps)")
            guard steps.count == 4 else { return }
            let setlID = steps[0]["setl_id"] as? String
            #expect(setlID != nil && steps[0]["medfee_sumamt"] as? Int == 1000 && steps[0]["replay"] as? Bool == false)
            #expect(steps[1]["setl_id"] as? String == setlID && steps[1]["replay"] as? Bool == true)
            #expect(steps[2]["setl_id"] as? String == setlID && (steps[2]["reversal_id"] as? String)?.isEmpty == false)
            #expect(steps[3]["fixmedins_code"] as? String == "H33080200101" && steps[3]["fixmedins_name"] as? String == "甲村卫生室")
        }
    }

    /// Without a client certificate the TLS handshake fails: nothing is served.
    @Test func noClientCertificateNoAnswer() async throws {
        try await withDemoStack(loadDemo: false) { stack in
            let result = try await runCommand("/usr/bin/curl", [
                "--silent", "--cacert", "\(stack.folder)/certs/ca.pem", "--write-out", "%{http_code}", "https://localhost:\(stack.gateway.bridgePort)/v1/methods",
            ])
            #expect(result.status != 0 && String(decoding: result.output, as: UTF8.self) == "000")
        }
    }
}
