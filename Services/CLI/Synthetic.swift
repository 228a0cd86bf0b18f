import MedicareDomain
import MedicareWire

/// Deterministic synthetic geography, institutions and insured persons: the same scale
/// always gives the same data. The nation: 31 provinces, 2,480 counties, 29,760 townships,
/// 491,040 villages and 580,320 village clinics.
struct Synthetic {
    enum Scale: String, CaseIterable {
        case county, province, nation
    }

    static let provinces = ["11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42", "43", "44",
                            "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65"]

    let scale: Scale

    /// Counties as 6-digit codes.
    var counties: [String] {
        switch scale {
        case .county: return ["330802"]
        case .province: return (1...10).flatMap { city in (1...8).map { String(format: "33%02d%02d", city, $0) } }
        case .nation: return Self.provinces.flatMap { p in (1...10).flatMap { city in (1...8).map { String(format: "%@%02d%02d", p, city, $0) } } }
        }
    }

    /// Villages per township: 16 or 17, so that the nation has about 491,000.
    static func villages(township: Int) -> Int { township % 2 == 0 ? 17 : 16 }

    struct CountyData {
        var divisions: [Division] = []
        var institutions: [InstitutionRecord] = []
        /// Clinics the demo designates (about six in seven), with their centres.
        var designated: [String] = []
    }

    /// Everything in one county, generated on demand (a nation never sits in memory).
    func county(_ county: String) -> CountyData {
        var data = CountyData()
        // Parents first: the registry takes a division only under an existing one.
        let province = String(county.prefix(2)), city = String(county.prefix(4))
        data.divisions.append(Division(code: province + "0000000000", name: "省\(province)"))
        data.divisions.append(Division(code: city + "00000000", name: "市\(city)"))
        data.divisions.append(Division(code: county + "000000", name: "县\(county)"))
        var serial = 100
        for township in 1...12 {
            let townshipCode = county + String(format: "%03d", 100 + township) + "000"
            data.divisions.append(Division(code: townshipCode, name: "\(county)镇\(township)"))
            let centre = "H" + county + String(format: "%05d", township)
            data.institutions.append(InstitutionRecord(fixmedinsCode: centre, fixmedinsName: "\(county)镇\(township)卫生院", kind: .townshipCentre,
                                                       divisionCode: townshipCode, licensedDoctors: 12, hasComputer: true, hasNetwork: true, recordVersion: 1))
            data.designated.append(centre)
            for village in 1...Self.villages(township: township) {
                let villageCode = county + String(format: "%03d%03d", 100 + township, 200 + village)
                data.divisions.append(Division(code: villageCode, name: "\(county)镇\(township)村\(village)"))
                for extra in 0..<(village % 5 == 0 ? 2 : 1) {
                    serial += 1
                    let code = "H" + county + String(format: "%05d", serial)
                    let mode: IntegrationMode = serial % 20 < 12 ? .integrated : serial % 20 < 17 ? .integrating : .notReady
                    data.institutions.append(InstitutionRecord(fixmedinsCode: code, fixmedinsName: "\(county)镇\(township)村\(village)卫生室\(extra == 0 ? "" : "二")", kind: .villageClinic,
                        divisionCode: villageCode, parentCode: mode == .notReady ? "" : centre, integrationMode: mode,
                        relationshipEnd: mode == .integrating ? "2025-12-31" : "", licensedDoctors: UInt32(1 + serial % 3),
                        hasComputer: serial % 9 != 0, hasNetwork: serial % 11 != 0, recordVersion: 1
                    ))
                    if serial % 7 != 0 { data.designated.append(code) }
                }
            }
        }
        return data
    }

    /// A synthetic person's insurance history: every third an employee since 2021, who was a
    /// resident before; the others residents since the year they enrolled (2015-2020), one in
    /// eleven of them after a year's pause (2019, suspended).
    static func records(county: String, _ i: Int) -> [InsuInfo] {
        let since = "\(2015 + i % 6)-01-01"
        if i % 3 == 0 {
            return [InsuInfo(insutype: .employeeBasic, insuplcAdmdvs: county, psnInsuStas: .enrolled, psnInsuDate: "2021-01-01"),
                    InsuInfo(insutype: .residentBasic, insuplcAdmdvs: county, psnInsuStas: .enrolled, psnInsuDate: "2015-01-01", pausInsuDate: "2021-01-01")]
        }
        guard i % 11 == 1 else { return [InsuInfo(insutype: .residentBasic, insuplcAdmdvs: county, psnInsuStas: .enrolled, psnInsuDate: since)] }
        return [InsuInfo(insutype: .residentBasic, insuplcAdmdvs: county, psnInsuStas: .enrolled, psnInsuDate: "2020-01-01"),
                InsuInfo(insutype: .residentBasic, insuplcAdmdvs: county, psnInsuStas: .suspended, psnInsuDate: "2019-01-01", pausInsuDate: "2020-01-01"),
                InsuInfo(insutype: .residentBasic, insuplcAdmdvs: county, psnInsuStas: .enrolled, psnInsuDate: "2015-01-01", pausInsuDate: "2019-01-01")]
    }

    /// Insured persons of a county, registered there (参保地 = the county), with their records.
    func persons(county: String, count: Int) -> [InsuredPerson] { persons(county: county, 0..<count) }

    /// The county's persons numbered `range` (the same as ``persons(county:count:)`` gives them).
    func persons(county: String, _ range: Range<Int>) -> [InsuredPerson] {
        range.map { i in
            let first17 = county + String(format: "%04d%02d%02d%03d", 1940 + i % 70, 1 + (i / 70) % 12, 1 + (i / 840) % 28, 1 + i / 23_520)
            return InsuredPerson(
                psnNo: "P\(county)\(String(format: "%07d", i))", certno: first17 + String(ResidentID.checkCharacter(first17)),
                name: "参保人\(i)", accountBalance: i % 3 == 0 ? 50_000 : 0,
                // Residents aided by medical assistance, a few in each category.
                psnIdetType: i % 3 == 0 ? .unspecified : i % 97 == 1 ? .extremePoverty : i % 17 == 1 ? .subsistence : i % 41 == 1 ? .marginal : .unspecified,
                insuinfo: Self.records(county: county, i)
            )
        }
    }
}
