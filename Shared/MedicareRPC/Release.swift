/// The release every executable reports: `--version`, `Health/Check`'s `version`, the CLI's.
public enum MedicareRelease {
    public static let version = "0.2.0"
}
