import MedicareDomain
public import MedicareWire

extension ResidentID {
    /// 性别 (gend) as the national code list has it, from the number's 17th character (odd:
    /// male, even: female, GB 11643).
    public var gend: Gend { gender == "1" ? .male : .female }
}
