// Shared by the fuzz targets (compiled into each): a broken promise prints what broke
// and traps, so libFuzzer saves the input (precondition drops its message under -O).
#if canImport(Glibc)
import Glibc
#endif

func fail(_ message: String) -> Never {
    fputs("fuzz: \(message)\n", stderr)
    abort()
}

func expect(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fail(message()) }
}
