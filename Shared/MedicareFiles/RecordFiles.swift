import MedicareContracts
import MedicareWire

/// One record of a file refused, with why: `record` counts data records from 1 (the header is
/// not one), `key` is the record's own key when it has one (`fixmedins_code`, `psn_no`, a
/// division's `code`), `reason` names the field first (`licensed_doctors: 'x' is not a whole
/// number`).
public struct Rejection: Sendable, Equatable, Codable {
    public let record: Int
    public let key: String
    public let reason: String

    public init(record: Int, key: String, reason: String) {
        self.record = record
        self.key = key
        self.reason = reason
    }
}

/// A file's records read as messages: those that read, each with its record number, and those
/// refused. What a record's values mean (a code's form, a division that exists) is the
/// service's to judge when they are sent; here only their types are (a number, a code of the
/// closed set, a yes/no).
public struct ParsedRecords<Message: Sendable>: Sendable {
    public var records: [(record: Int, message: Message)] = []
    public var rejections: [Rejection] = []
}

/// The data files `medicare generate` writes and `medicare import` reads: their columns by
/// name, and each record as the message its import method takes.
public enum RecordFiles {
    /// `institutions.csv` → `Registry/ImportInstitutions`'s `InstitutionRecord`s. Columns (any
    /// order): fixmedins_code, fixmedins_name, kind (township_centre or village_clinic, or its
    /// number), division_code, licensed_doctors, has_computer, has_network (1/0, true/false,
    /// 是/否), record_version; optional parent_code, integration_mode (integrated,
    /// integrating, not_ready; empty for a centre), relationship_end (YYYY-MM-DD).
    public static let institutionColumns = (
        required: ["fixmedins_code", "fixmedins_name", "kind", "division_code", "licensed_doctors", "has_computer", "has_network", "record_version"],
        optional: ["parent_code", "integration_mode", "relationship_end"]
    )

    /// `divisions.csv` → `Registry/UpsertDivisions`'s `Division`s: code (12 digits), name.
    public static let divisionColumns = (required: ["code", "name"], optional: [String]())

    /// `persons.csv` → `Settlement/ImportPersons`'s `InsuredPerson`s: psn_no, certno, name,
    /// insutype (the national code list: 310, 390, ... or its name), insu_admdvs (6 digits),
    /// psn_insu_stas (1 insured, 2 suspended, 4 terminated, or its name), account_balance
    /// (fen, a whole number).
    public static let personColumns = (
        required: ["psn_no", "certno", "name", "insutype", "insu_admdvs", "psn_insu_stas", "account_balance"], optional: ["cvlserv_flag", "psn_idet_type"]
    )

    /// The institutions of `table`. Errors: ``FileError/format(_:)`` for the header.
    public static func institutions(_ table: CSVTable) throws(FileError) -> ParsedRecords<InstitutionRecord> {
        let c = try table.columns(required: institutionColumns.required, optional: institutionColumns.optional)
        return read(table, key: { c.field("fixmedins_code", of: $0) }) { f in
            InstitutionRecord(
                fixmedinsCode: f.text("fixmedins_code"), fixmedinsName: f.text("fixmedins_name"), kind: try f.code("kind"),
                divisionCode: f.text("division_code"), parentCode: f.text("parent_code"),
                integrationMode: try f.optionalCode("integration_mode"),
                relationshipEnd: f.text("relationship_end"), licensedDoctors: try f.number("licensed_doctors"),
                hasComputer: try f.yesNo("has_computer"), hasNetwork: try f.yesNo("has_network"), recordVersion: try f.number("record_version")
            )
        } fields: { Fields(columns: c, record: $0) }
    }

    /// The divisions of `table`. Errors: ``FileError/format(_:)`` for the header.
    public static func divisions(_ table: CSVTable) throws(FileError) -> ParsedRecords<Division> {
        let c = try table.columns(required: divisionColumns.required, optional: divisionColumns.optional)
        return read(table, key: { c.field("code", of: $0) }) { f in
            Division(code: f.text("code"), name: f.text("name"))
        } fields: { Fields(columns: c, record: $0) }
    }

    /// The insured persons of `table`. Errors: ``FileError/format(_:)`` for the header.
    public static func persons(_ table: CSVTable) throws(FileError) -> ParsedRecords<InsuredPerson> {
        let c = try table.columns(required: personColumns.required, optional: personColumns.optional)
        return read(table, key: { c.field("psn_no", of: $0) }) { f in
            InsuredPerson(
                psnNo: f.text("psn_no"), certno: f.text("certno"), name: f.text("name"), insutype: try f.code("insutype"),
                insuAdmdvs: f.text("insu_admdvs"), psnInsuStas: try f.code("psn_insu_stas"), accountBalance: try f.number("account_balance"),
                cvlservFlag: try f.optionalYesNo("cvlserv_flag"),
                psnIdetType: try f.optionalCode("psn_idet_type")
            )
        } fields: { Fields(columns: c, record: $0) }
    }

    /// `catalogue.csv` → `Settlement/ImportCatalogue`'s `CatalogueRecord`s: the rows of a
    /// 1301–1306 download, by the national field names. Columns (any order): med_list_codg,
    /// name; optional list_type (101, 102, 201, 301, 901; empty: the one the code's form says),
    /// chrgitm_lv (01 甲类, 02 乙类, 03 丙类, or class_a...; empty only for a disease),
    /// selfpay_prop (basis points, 0-10,000; empty: the policy's ratio for the category),
    /// pric_uplmt_amt (fen per unit), regional_prices (`3308:1200;330802:1100`: a division
    /// prefix and its price in fen, `;` between them), begndate, enddate (YYYY-MM-DD; empty:
    /// always, open-ended), max_qty, max_days (empty: no limit), chronic_condition
    /// (hypertension, diabetes or its number; empty: none), antibiotic, injection, vbp (1/0;
    /// empty: 0). `scripts/generate-catalogue.py --csv` writes one.
    public static let catalogueColumns = (
        required: ["med_list_codg", "name"],
        optional: ["list_type", "chrgitm_lv", "selfpay_prop", "pric_uplmt_amt", "regional_prices", "begndate", "enddate", "max_qty", "max_days",
                   "chronic_condition", "antibiotic", "injection", "vbp"]
    )

    /// The catalogue records of `table`. Errors: ``FileError/format(_:)`` for the header.
    public static func catalogue(_ table: CSVTable) throws(FileError) -> ParsedRecords<CatalogueRecord> {
        let c = try table.columns(required: catalogueColumns.required, optional: catalogueColumns.optional)
        return read(table, key: { c.field("med_list_codg", of: $0) }) { f in
            var prices: [RegionalPrice] = []
            for (i, pair) in f.text("regional_prices").split(separator: ";", omittingEmptySubsequences: true).enumerated() {
                let parts = pair.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count == 2, let fen = Int64(parts[1]) else {
                    throw FieldError(field: "regional_prices", reason: "entry \(i + 1) '\(pair.prefix(30))' is not DIVISION:FEN (3308:1200)")
                }
                prices.append(RegionalPrice(admdvs: String(parts[0]), pricUplmtAmt: fen))
            }
            return CatalogueRecord(
                medListCodg: f.text("med_list_codg"), listType: try f.optionalCode("list_type"),
                name: f.text("name"), chrgitmLv: try f.optionalCode("chrgitm_lv"),
                selfpayProp: f.text("selfpay_prop").isEmpty ? nil : SelfpayProp(basisPoints: try f.number("selfpay_prop")),
                pricUplmtAmt: try f.optionalNumber("pric_uplmt_amt"), regionalPrices: prices, begndate: f.text("begndate"), enddate: f.text("enddate"),
                maxQty: try f.optionalNumber("max_qty"), maxDays: try f.optionalNumber("max_days"),
                chronicCondition: try f.optionalCode("chronic_condition"),
                antibiotic: try f.optionalYesNo("antibiotic"), injection: try f.optionalYesNo("injection"), vbp: try f.optionalYesNo("vbp")
            )
        } fields: { Fields(columns: c, record: $0) }
    }

    /// Each record of `table` through `make`, or its rejection.
    static func read<Message: Sendable>(
        _ table: CSVTable, key: ([String]) -> String, _ make: (Fields) throws -> Message, fields: ([String]) -> Fields
    ) -> ParsedRecords<Message> {
        var parsed = ParsedRecords<Message>()
        for (i, record) in table.records.enumerated() {
            let extra = table.extraFields(record)
            guard extra == 0 else {
                parsed.rejections.append(Rejection(record: i + 1, key: key(record), reason: "\(extra) more fields than the header's \(table.header.count) columns"))
                continue
            }
            do {
                parsed.records.append((i + 1, try make(fields(record))))
            } catch let error as FieldError {
                parsed.rejections.append(Rejection(record: i + 1, key: key(record), reason: "\(error.field): \(error.reason)"))
            } catch {
                parsed.rejections.append(Rejection(record: i + 1, key: key(record), reason: "\(error)"))
            }
        }
        return parsed
    }

    /// A field whose text is not of its column's type.
    struct FieldError: Error {
        let field: String
        let reason: String
    }

    /// One record's fields by column name, typed.
    struct Fields {
        let columns: CSVTable.Columns
        let record: [String]

        func text(_ name: String) -> String { columns.field(name, of: record) }

        /// A whole number of the field's type (no sign for unsigned ones, no separators).
        func number<N: FixedWidthInteger>(_ name: String) throws(FieldError) -> N {
            let value = text(name)
            guard let number = N(value) else {
                throw FieldError(field: name, reason: value.isEmpty ? "is required" : "'\(value.prefix(30))' is not a whole number\(N.isSigned ? "" : " ≥ 0") within range")
            }
            return number
        }

        /// Yes or no: 1/0, true/false, yes/no, y/n, 是/否 (any case).
        func yesNo(_ name: String) throws(FieldError) -> Bool {
            switch text(name).lowercased() {
            case "1", "true", "yes", "y", "是": return true
            case "0", "false", "no", "n", "否": return false
            case "": throw FieldError(field: name, reason: "is required (1 or 0)")
            case let other: throw FieldError(field: name, reason: "'\(other.prefix(30))' is not 1/0, true/false or 是/否")
            }
        }

        /// ``number(_:)``, or 0 for an empty field.
        func optionalNumber<N: FixedWidthInteger>(_ name: String) throws(FieldError) -> N {
            text(name).isEmpty ? 0 : try number(name)
        }

        /// ``yesNo(_:)``, or no for an empty field.
        func optionalYesNo(_ name: String) throws(FieldError) -> Bool {
            text(name).isEmpty ? false : try yesNo(name)
        }

        /// ``code(_:)``, or the zero value (unspecified) for an empty field.
        func optionalCode<E: ProtoEnum>(_ name: String) throws(FieldError) -> E {
            text(name).isEmpty ? E(rawValue: 0) : try code(name)
        }

        /// A closed set's value by its code (`village_clinic`) or number (`2`, `310`).
        func code<E: ProtoEnum>(_ name: String) throws(FieldError) -> E {
            let value = text(name)
            if let byCode = E(code: value) { return byCode }
            if let number = Int32(value), E(rawValue: number).isKnown { return E(rawValue: number) }
            let known = E.known.map { "\($0.code) (\($0.rawValue))" }.joined(separator: ", ")
            throw FieldError(field: name, reason: value.isEmpty ? "is required: one of \(known)" : "'\(value.prefix(30))' is not one of \(known)")
        }
    }
}
