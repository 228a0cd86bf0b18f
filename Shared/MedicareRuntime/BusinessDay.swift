import Foundation
import MedicareDomain

extension ServiceContext {
    /// The key a service declares to count money on business days (``businessTimeZone()``).
    public static let timeZoneKey = ConfigKey(
        "business.time-zone", default: "",
        "Time zone of the business day money is counted on (IANA name, e.g. Asia/Shanghai); empty = the machine's."
    )

    /// The zone named by `business.time-zone` (the machine's when empty); an unknown name
    /// stops start-up naming the key.
    public func businessTimeZone() throws(StartupError) -> TimeZone {
        let name = configuration.string("business.time-zone")
        if name.isEmpty { return .current }
        guard let zone = TimeZone(identifier: name) else {
            throw StartupError("configuration key 'business.time-zone' (\(configuration.source("business.time-zone"))): '\(name)' is not a time zone")
        }
        return zone
    }
}
