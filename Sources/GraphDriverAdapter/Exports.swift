import CKataBlockDriver
import StorageCore

// The C ABI declared in kata_block_driver.h, each function checked against it by the compiler
// (`@implementation @c`). Each one decodes its arguments, calls the engine, and maps the outcome.

public typealias ErrorOut = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?

@implementation @c
public func kbd_abi_version() -> UInt32 { UInt32(KBD_ABI_VERSION) }

@implementation @c
public func kbd_open(
    _ stateDirectory: UnsafePointer<CChar>?, _ options: UnsafePointer<UnsafePointer<CChar>?>?, _ optionCount: Int,
    _ driver: UnsafeMutablePointer<OpaquePointer?>?, _ error: ErrorOut
) -> Int32 {
    guard let directory = CValues.optional(stateDirectory), let driver else { return invalid("kbd_open needs a state directory and a handle", error) }
    let words = (0..<optionCount).compactMap { CValues.optional(options?[$0]) }
    return call(error) { () throws(StorageError) in
        try await Driver.open(directory, options: words)
    } deliver: { opened in
        driver.pointee = OpaquePointer(Unmanaged.passRetained(opened).toOpaque())
    }
}

@implementation @c
public func kbd_close(_ driver: OpaquePointer?) {
    guard let driver else { return }
    let handle = Unmanaged<Driver>.fromOpaque(UnsafeRawPointer(driver))
    let engine = handle.takeUnretainedValue().engine
    _ = blockingCall { () throws(StorageError) in try await engine.close() }
    handle.release()
}

@implementation @c
public func kbd_create(
    _ driver: OpaquePointer?, _ id: UnsafePointer<CChar>?, _ parent: UnsafePointer<CChar>?, _ writable: Int32, _ size: UInt64, _ error: ErrorOut
) -> Int32 {
    let below = CValues.optional(parent)
    return withLayer(driver, id, error) { (layers, id) throws(StorageError) in
        try await layers.create(id, parent: below, writable: writable != 0, size: size == 0 ? nil : size)
    }
}

@implementation @c
public func kbd_create_from_template(
    _ driver: OpaquePointer?, _ id: UnsafePointer<CChar>?, _ template: UnsafePointer<CChar>?, _ writable: Int32, _ error: ErrorOut
) -> Int32 {
    guard let source = CValues.optional(template) else { return invalid("kbd_create_from_template needs a template layer", error) }
    return withLayer(driver, id, error) { (layers, id) throws(StorageError) in
        try await layers.create(id, template: source, writable: writable != 0)
    }
}

@implementation @c
public func kbd_remove(_ driver: OpaquePointer?, _ id: UnsafePointer<CChar>?, _ error: ErrorOut) -> Int32 {
    withLayer(driver, id, error) { (layers, id) throws(StorageError) in try await layers.remove(id) }
}

@implementation @c
public func kbd_get(
    _ driver: OpaquePointer?, _ id: UnsafePointer<CChar>?, _ options: UnsafePointer<CChar>?,
    _ mountPoint: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ error: ErrorOut
) -> Int32 {
    let words = CValues.optional(options).map { $0.split(separator: ",").map(String.init) } ?? []
    return withLayer(driver, id, error) { (layers, id) throws(StorageError) in
        try await layers.get(id, options: words)
    } deliver: { root in
        mountPoint?.pointee = CValues.string(root)
    }
}

@implementation @c
public func kbd_put(_ driver: OpaquePointer?, _ id: UnsafePointer<CChar>?, _ error: ErrorOut) -> Int32 {
    withLayer(driver, id, error) { (layers, id) throws(StorageError) in try await layers.put(id) }
}

@implementation @c
public func kbd_exists(_ driver: OpaquePointer?, _ id: UnsafePointer<CChar>?) -> Int32 {
    guard let driver, let id = CValues.optional(id) else { return 0 }
    return handle(driver).layers.exists(id) ? 1 : 0
}

@implementation @c
public func kbd_status(
    _ driver: OpaquePointer?, _ pairs: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ length: UnsafeMutablePointer<Int>?, _ error: ErrorOut
) -> Int32 {
    guard let driver else { return invalid("kbd_status needs a handle", error) }
    let open = handle(driver)
    return call(error) { () throws(StorageError) in
        try await open.status().flatMap { [$0.0, $0.1] }
    } deliver: { store($0, pairs, length) }
}

@implementation @c
public func kbd_metadata(
    _ driver: OpaquePointer?, _ id: UnsafePointer<CChar>?, _ pairs: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
    _ length: UnsafeMutablePointer<Int>?, _ error: ErrorOut
) -> Int32 {
    withLayer(driver, id, error) { (layers, id) throws(StorageError) in
        try await layers.metadata(id).flatMap { [$0.0, $0.1] }
    } deliver: { store($0, pairs, length) }
}

@implementation @c
public func kbd_usage(
    _ driver: OpaquePointer?, _ id: UnsafePointer<CChar>?, _ bytes: UnsafeMutablePointer<Int64>?, _ inodes: UnsafeMutablePointer<Int64>?,
    _ error: ErrorOut
) -> Int32 {
    withLayer(driver, id, error) { (layers, id) throws(StorageError) in
        try await layers.usage(id)
    } deliver: { usage in
        bytes?.pointee = usage.size
        inodes?.pointee = usage.inodes
    }
}

@implementation @c
public func kbd_apply_diff(
    _ driver: OpaquePointer?, _ id: UnsafePointer<CChar>?, _ fd: Int32, _ ignoreChownErrors: Int32, _ forceMask: Int32,
    _ size: UnsafeMutablePointer<Int64>?, _ error: ErrorOut
) -> Int32 {
    let options = ApplyOptions(ignoreChownErrors: ignoreChownErrors != 0, forceMask: forceMask < 0 ? nil : UInt32(forceMask))
    return withLayer(driver, id, error) { (layers, id) throws(StorageError) in
        try await layers.applyDiff(id, tar: fd, options: options)
    } deliver: { size?.pointee = $0 }
}

@implementation @c
public func kbd_diff(
    _ driver: OpaquePointer?, _ id: UnsafePointer<CChar>?, _ parent: UnsafePointer<CChar>?, _ fd: Int32,
    _ size: UnsafeMutablePointer<Int64>?, _ error: ErrorOut
) -> Int32 {
    let below = CValues.optional(parent)
    return withLayer(driver, id, error) { (layers, id) throws(StorageError) in
        try await layers.diff(id, parent: below, to: fd)
    } deliver: { size?.pointee = $0 }
}

@implementation @c
public func kbd_changes(
    _ driver: OpaquePointer?, _ id: UnsafePointer<CChar>?, _ parent: UnsafePointer<CChar>?,
    _ changes: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ length: UnsafeMutablePointer<Int>?, _ error: ErrorOut
) -> Int32 {
    let below = CValues.optional(parent)
    return withLayer(driver, id, error) { (layers, id) throws(StorageError) in
        try await layers.changes(id, parent: below).flatMap { [$0.kind.rawValue, $0.path] }
    } deliver: { store($0, changes, length) }
}

@implementation @c
public func kbd_diff_size(
    _ driver: OpaquePointer?, _ id: UnsafePointer<CChar>?, _ parent: UnsafePointer<CChar>?, _ size: UnsafeMutablePointer<Int64>?,
    _ error: ErrorOut
) -> Int32 {
    let below = CValues.optional(parent)
    return withLayer(driver, id, error) { (layers, id) throws(StorageError) in
        try await layers.diffSize(id, parent: below)
    } deliver: { size?.pointee = $0 }
}

@implementation @c
public func kbd_free(_ pointer: UnsafeMutableRawPointer?) { pointer?.deallocate() }

// MARK: the shared decoding and mapping

private func handle(_ driver: OpaquePointer) -> Driver { Unmanaged<Driver>.fromOpaque(UnsafeRawPointer(driver)).takeUnretainedValue() }

/// Runs `body` on the engine for the layer `id`, then hands its result to `deliver` on the
/// calling thread; returns KBD_OK or the mapped error.
private func withLayer<T: Sendable>(
    _ driver: OpaquePointer?, _ id: UnsafePointer<CChar>?, _ error: ErrorOut,
    _ body: @escaping @Sendable (LayerStore, String) async throws(StorageError) -> T, deliver: (T) -> Void = { _ in }
) -> Int32 {
    guard let driver, let id = CValues.optional(id) else { return invalid("the call needs a handle and a layer id", error) }
    let layers = handle(driver).layers
    return call(error) { () throws(StorageError) in try await body(layers, id) } deliver: { deliver($0) }
}

private func call<T: Sendable>(
    _ error: ErrorOut, _ body: @escaping @Sendable () async throws(StorageError) -> T, deliver: (T) -> Void = { _ in }
) -> Int32 {
    switch blockingCall(body) {
    case .success(let value):
        deliver(value)
        return KBD_OK
    case .failure(let failure):
        error?.pointee = CValues.string(ErrorMapping.message(of: failure))
        return ErrorMapping.status(of: failure)
    }
}

private func invalid(_ message: String, _ error: ErrorOut) -> Int32 {
    error?.pointee = CValues.string(message)
    return KBD_EINVALID
}

private func store(_ items: [String], _ buffer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ length: UnsafeMutablePointer<Int>?) {
    let (bytes, count) = CValues.list(items)
    buffer?.pointee = bytes
    length?.pointee = count
}
