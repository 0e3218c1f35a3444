/// This release of Kata Block Storage.
public enum Release {
    public static let version = "0.3.0"
}
