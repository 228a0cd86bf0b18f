import MedicareContracts
import MedicareFiles
import MedicareWire
import Foundation
import Testing

/// Files as people export them (RFC 4180): each form a spreadsheet or another system writes
/// reads to the same records.
@Suite("CSV files as exported")
struct CSVImportTests {
    static let header = "fixmedins_code,fixmedins_name,kind,division_code,parent_code,integration_mode,relationship_end,licensed_doctors,has_computer,has_network,record_version"

    static func institutions(_ bytes: [UInt8], encoding: TextEncoding = .auto) throws -> ParsedRecords<InstitutionRecord> {
        try RecordFiles.institutions(try CSVTable(bytes: bytes, encoding: encoding))
    }

    /// Windows line ends (CRLF) everywhere, the last line too: nothing is left of the CR in
    /// the last field, and every record reads.
    @Test func crlfLineEnds() throws {
        let text = Self.header + "\r\n"
            + "H33080200001,航埠镇卫生院,township_centre,330802101000,,,,5,1,1,1\r\n"
            + "H33080200101,甲村卫生室,village_clinic,330802101201,H33080200001,integrated,,2,1,1,3\r\n"
        let parsed = try Self.institutions(Array(text.utf8))
        #expect(parsed.rejections.isEmpty, "\(parsed.rejections)")
        #expect(parsed.records.map(\.message.fixmedinsCode) == ["H33080200001", "H33080200101"])
        #expect(parsed.records[1].message.recordVersion == 3 && parsed.records[1].message.integrationMode == .integrated)
        #expect(parsed.records[0].message.kind == .townshipCentre && parsed.records[0].message.integrationMode == .unspecified)
    }

    /// Quoted fields: a comma, doubled quotes and a line break inside a name.
    @Test func quotedFields() throws {
        let text = Self.header + "\n"
            + "H33080200101,\"甲村卫生室, \"\"东\"\"\n分室\",village_clinic,330802101201,H33080200001,\"integrating\",2025-06-30,\"2\",1,1,1\n"
            + "H33080200102,乙村卫生室,village_clinic,330802101202,H33080200001,integrated,,1,true,false,1\n"
        let parsed = try Self.institutions(Array(text.utf8))
        #expect(parsed.rejections.isEmpty, "\(parsed.rejections)")
        #expect(parsed.records.map(\.message.fixmedinsName) == ["甲村卫生室, \"东\"\n分室", "乙村卫生室"])
        #expect(parsed.records.map(\.record) == [1, 2])
        #expect(parsed.records[0].message.relationshipEnd == "2025-06-30" && parsed.records[1].message.hasNetwork == false)
    }

    /// GBK, as Chinese Windows exports write it (the bytes are GBK's, written down by hand):
    /// read as GBK whether asked for or detected.
    @Test func gbkFile() throws {
        var bytes = Array((Self.header + "\r\nH33080200001,").utf8)
        bytes += [186, 189, 178, 186, 213, 242, 206, 192, 201, 250, 212, 186]  // 航埠镇卫生院
        bytes += Array(",township_centre,330802101000,,,,5,1,1,1\r\nH33080200101,\"".utf8)
        bytes += [188, 215, 180, 229, 206, 192, 201, 250, 202, 210, 44, 32, 182, 171]  // 甲村卫生室, 东
        bytes += Array("\",village_clinic,330802101201,H33080200001,integrated,,2,1,1,1\r\n".utf8)
        for encoding in [TextEncoding.auto, .gbk] {
            let parsed = try Self.institutions(bytes, encoding: encoding)
            #expect(parsed.rejections.isEmpty)
            #expect(parsed.records.map(\.message.fixmedinsName) == ["航埠镇卫生院", "甲村卫生室, 东"])
        }
        #expect(throws: FileError.self) { _ = try CSVTable(bytes: bytes, encoding: .utf8) }
    }

    /// Columns found by name in any order, optional ones left out, a UTF-8 byte-order mark.
    @Test func headerReorderedWithAByteOrderMark() throws {
        let text = "\u{FEFF}record_version,has_network,has_computer,licensed_doctors,division_code,kind,fixmedins_name,fixmedins_code\n"
            + "2,是,是,1,330802101201,village_clinic,甲村卫生室,H33080200101\n"
            + "1,0,1,0,330802101202,2,乙村卫生室,H33080200102\n"
        let parsed = try Self.institutions(Array(text.utf8))
        #expect(parsed.rejections.isEmpty, "\(parsed.rejections)")
        let first = try #require(parsed.records.first?.message)
        #expect(first.fixmedinsCode == "H33080200101" && first.fixmedinsName == "甲村卫生室" && first.recordVersion == 2 && first.hasNetwork)
        #expect(first.parentCode == "" && first.integrationMode == .unspecified)
        #expect(parsed.records[1].message.kind == .villageClinic && parsed.records[1].message.licensedDoctors == 0)
    }

    /// A record whose fields are not of their columns' types is refused with its number and
    /// the field; the others read.
    @Test func badRecordsAreRefusedOneByOne() throws {
        let text = Self.header + "\n"
            + "H33080200101,甲,village_clinic,330802101201,,not_ready,,two,1,1,1\n"
            + "H33080200102,乙,clinic,330802101202,,not_ready,,1,1,1,1\n"
            + "H33080200103,丙,village_clinic,330802101203,,not_ready,,1,maybe,1,1\n"
            + "H33080200104,丁,village_clinic,330802101204,,not_ready,,1,1,1,1,extra\n"
            + "H33080200105,戊,village_clinic,330802101205,,not_ready,,1,1,1,1\n"
        let parsed = try Self.institutions(Array(text.utf8))
        #expect(parsed.records.map(\.record) == [5])
        #expect(parsed.rejections.map(\.record) == [1, 2, 3, 4])
        #expect(parsed.rejections.map(\.key) == ["H33080200101", "H33080200102", "H33080200103", "H33080200104"])
        #expect(parsed.rejections[0].reason.hasPrefix("licensed_doctors: 'two' is not a whole number"))
        #expect(parsed.rejections[1].reason.hasPrefix("kind: 'clinic' is not one of township_centre (1), village_clinic (2)"))
        #expect(parsed.rejections[2].reason.hasPrefix("has_computer: 'maybe'"))
        #expect(parsed.rejections[3].reason == "1 more fields than the header's 11 columns")
    }

    /// A header that is wrong refuses the whole file, naming the column.
    @Test func aWrongHeaderRefusesTheFile() throws {
        func refusal(_ header: String) -> String? {
            do {
                _ = try Self.institutions(Array((header + "\n").utf8))
                return nil
            } catch {
                return (error as? FileError)?.message ?? "\(error)"
            }
        }
        #expect(refusal(Self.header.replacingOccurrences(of: "licensed_doctors", with: "doctors"))
            == "header column 'doctors' is not one of fixmedins_code, fixmedins_name, kind, division_code, licensed_doctors, has_computer, has_network, record_version, parent_code, integration_mode, relationship_end")
        #expect(refusal(Self.header.replacingOccurrences(of: ",record_version", with: "")) == "header has no column record_version")
        #expect(refusal(Self.header + ",kind") == "header column 'kind' appears twice")
        #expect(refusal("") == "no header line")
    }

    /// What the writer writes reads back the same: commas, quotes and line breaks quoted.
    @Test func writtenRecordsReadBack() throws {
        let names = ["plain", "a, comma", "a \"quote\"", "two\nlines", "crlf\r\nlines", "柯城区"]
        let text = CSVWriter.line(["code", "name"]) + names.enumerated().map { CSVWriter.line([String(format: "33080210%04d", $0.offset), $0.element]) }.joined()
        let table = try CSVTable(bytes: Array(text.utf8))
        let parsed = try RecordFiles.divisions(table)
        #expect(parsed.records.map(\.message.name) == names)
    }

    /// The persons file as the generator writes it: the national insutype code by number.
    @Test func personsByTheNationalCodes() throws {
        let text = "psn_no,certno,name,insutype,insu_admdvs,psn_insu_stas,account_balance\r\n"
            + "P330802000001,330802195001010011,张三,390,330802,enrolled,12000\r\n"
            + "P330802000002,330802195001010029,李四,310,330802,1,0\r\n"
            + "P330802000003,330802195001010037,王五,999,330802,enrolled,-5\r\n"
        let parsed = try RecordFiles.persons(try CSVTable(bytes: Array(text.utf8)))
        #expect(parsed.records.map(\.message.insutype) == [.residentBasic, .employeeBasic])
        #expect(parsed.records.map(\.message.psnInsuStas) == [.enrolled, .enrolled] && parsed.records[0].message.accountBalance == 12_000)
        #expect(parsed.rejections.map(\.record) == [3] && parsed.rejections.first?.reason.hasPrefix("insutype: '999' is not one of") == true)
    }
}
