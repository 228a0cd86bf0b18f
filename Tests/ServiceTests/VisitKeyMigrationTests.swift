import MedicareStore
import MedicareTestSupport
import SettlementService
import Testing

/// Migration 25 rebuilds the visit tables keyed by `mdtrt_id` first (WITHOUT ROWID on SQLite,
/// new primary keys on PostgreSQL). A store migrated from 24 keeps every visit, detail and
/// event as it was, and the rebuilt tables still refuse what they refused.
@Suite struct VisitKeyMigrationTests {
    @Test(arguments: Engine.all)
    func visitsRegisteredBeforeTheRebuildKeepTheirRowsAndTheirChecks(engine: Engine) async throws {
        try await withDatabase(engine) { db in
            let before = SettlementDefinition.migrations.filter { $0.version <= 24 }
            try await Migrator.migrate(db, service: "settlement", migrations: before, logger: quietLogger)
            try await db.write { tx in
                try await tx.execute(
                    """
                    INSERT INTO outpatient_visits (fixmedins_code, mdtrt_id, ipt_otp_no, psn_no, insutype, med_type, begntime, atddr_no, diagnoses,
                        mdtrt_cert_type, mdtrt_cert_no)
                    VALUES ('H33080200101', 'M0190a1b2c3d4e5f6a7b8c9d', 'MZ-1', 'P330802000001', '390', 'general_outpatient', '2026-11-30', 'D01',
                        'J06.900', 'ecard', 'E1')
                    """, [])
                try await tx.execute(
                    """
                    INSERT INTO outpatient_visit_details (fixmedins_code, mdtrt_id, feedetl_sn, seq, med_list_codg, medins_list_codg, cnt, pric,
                        bilg_dr_codg, days) VALUES ('H33080200101', 'M0190a1b2c3d4e5f6a7b8c9d', 'F1', 1, 'X', 'own-1', 2, 350, 'D01', 1)
                    """, [])
                try await tx.execute(
                    """
                    INSERT INTO outpatient_visit_events (fixmedins_code, mdtrt_id, seq, kind, at, opter_no, detail)
                    VALUES ('H33080200101', 'M0190a1b2c3d4e5f6a7b8c9d', 1, 'registered', '2026-11-30T01:00:00Z', 'OP1', 'MZ-1')
                    """, [])
            }
            try await Migrator.migrate(db, service: "settlement", migrations: SettlementDefinition.migrations, logger: quietLogger)

            let (visit, detail, event) = try await db.read { tx in
                (try await tx.queryOne("SELECT * FROM outpatient_visits WHERE fixmedins_code = 'H33080200101' AND mdtrt_id = 'M0190a1b2c3d4e5f6a7b8c9d'", []),
                 try await tx.queryOne("SELECT * FROM outpatient_visit_details WHERE mdtrt_id = 'M0190a1b2c3d4e5f6a7b8c9d'", []),
                 try await tx.queryOne("SELECT * FROM outpatient_visit_events WHERE mdtrt_id = 'M0190a1b2c3d4e5f6a7b8c9d'", []))
            }
            let kept = try #require(visit)
            #expect(try kept.string("ipt_otp_no") == "MZ-1" && kept.string("diagnoses") == "J06.900" && kept.string("mdtrt_cert_type") == "ecard"
                && kept.string("mdtrt_cert_no") == "E1" && kept.string("med_type") == "general_outpatient")
            #expect(try #require(detail).int("pric") == 350)
            #expect(try #require(event).string("kind") == "registered")

            // The institution's own number stays unique, as 2201's ON CONFLICT needs.
            let again = try await db.write { tx in
                try await tx.query(
                    """
                    INSERT INTO outpatient_visits (fixmedins_code, mdtrt_id, ipt_otp_no, psn_no, insutype, med_type, begntime, atddr_no, diagnoses)
                    VALUES ('H33080200101', 'M0190a1b2c3d4e5f6a7b8cff', 'MZ-1', 'P330802000001', '390', 'general_outpatient', '2026-11-30', 'D01', '')
                    ON CONFLICT (fixmedins_code, ipt_otp_no) DO NOTHING RETURNING mdtrt_id
                    """, [])
            }
            #expect(again.isEmpty)
            // The closed sets are still checked on the rebuilt tables.
            for statement in [
                "UPDATE outpatient_visits SET med_type = 'inpatient' WHERE mdtrt_id = 'M0190a1b2c3d4e5f6a7b8c9d'",
                "UPDATE outpatient_visits SET mdtrt_cert_type = 'passport' WHERE mdtrt_id = 'M0190a1b2c3d4e5f6a7b8c9d'",
                "UPDATE outpatient_visit_events SET kind = 'settled' WHERE mdtrt_id = 'M0190a1b2c3d4e5f6a7b8c9d'",
            ] {
                await #expect(throws: StoreError.self, "\(statement)") { try await db.write { tx in try await tx.execute(statement, []) } }
            }
        }
    }
}
