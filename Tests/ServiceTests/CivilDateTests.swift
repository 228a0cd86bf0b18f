import Foundation
import MedicareDomain
import Testing

@Suite struct CivilDateTests {
    /// Every day the parser accepts (1900-2200), checked against Foundation's Gregorian
    /// calendar: the integer day arithmetic review relies on must be the calendar's own.
    @Test func dayArithmeticMatchesTheGregorianCalendarOnEveryAcceptedDay() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let epoch = calendar.date(from: DateComponents(year: 1970, month: 1, day: 1))!
        var date = CivilDate(year: 1900, month: 1, day: 1)
        var foundation = calendar.date(from: DateComponents(year: 1900, month: 1, day: 1))!
        var checked = 0
        while date.year <= 2200 {
            let c = calendar.dateComponents([.year, .month, .day], from: foundation)
            #expect(date == CivilDate(year: c.year!, month: c.month!, day: c.day!), "\(date)")
            #expect(date.dayNumber == calendar.dateComponents([.day], from: epoch, to: foundation).day!)
            #expect(CivilDate(dayNumber: date.dayNumber) == date)
            date = date.adding(days: 1)
            foundation = calendar.date(byAdding: .day, value: 1, to: foundation)!
            checked += 1
        }
        #expect(checked == 109_938)
    }

    @Test func windowsAcrossMonthsYearsAndLeapDays() throws {
        let leap = try CivilDate("2024-02-28", field: "d")
        #expect(leap.adding(days: 1).description == "2024-02-29")
        #expect(leap.adding(days: 2).description == "2024-03-01")
        #expect(try CivilDate("1900-02-28", field: "d").adding(days: 1).description == "1900-03-01")
        #expect(try CivilDate("2000-02-28", field: "d").adding(days: 1).description == "2000-02-29")
        #expect(try CivilDate("2025-01-01", field: "d").adding(days: -1).description == "2024-12-31")
        #expect(try CivilDate("2024-06-01", field: "d").days(to: CivilDate("2024-05-02", field: "d")) == -30)
        #expect(try CivilDate("2024-01-01", field: "d").days(to: CivilDate("2025-01-01", field: "d")) == 366)
    }

    /// The day clock answers the calendar's date across midnights, a change of offset and a
    /// clock set back, in the business zone and one with daylight saving.
    @Test func theDayClockAnswersTheCalendarsDateAtEveryHour() throws {
        // Santiago moves at midnight: 2024-09-08 starts at 01:00, and 2024-04-06 ends at 24:00
        // summer time, which is 23:00 again.
        for (zone, first) in [("Asia/Shanghai", (2024, 3, 9)), ("America/New_York", (2024, 3, 9)), ("America/Santiago", (2024, 9, 6)), ("America/Santiago", (2024, 4, 5))] {
            let timeZone = try #require(TimeZone(identifier: zone))
            let clock = DayClock(in: timeZone)
            let calendar = CivilDate.gregorian(in: timeZone)
            // Every 20 minutes for four days (New York moves to summer time on 2024-03-10), then
            // the same instants again backwards.
            let start = try #require(calendar.date(from: DateComponents(year: first.0, month: first.1, day: first.2, hour: 12)))
            let instants = (0..<(4 * 72)).map { start.addingTimeInterval(Double($0) * 1_200) }
            for now in instants + instants.reversed() {
                let c = calendar.dateComponents([.year, .month, .day], from: now)
                #expect(clock.today(now: now) == CivilDate(year: c.year!, month: c.month!, day: c.day!), "\(zone) \(now)")
            }
        }
    }
}
