import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Makes a FIFO at `path` and starts a thread that writes `data` into it once a reader opens
/// it, as a serial console feeds a pipe. False when mkfifo fails. The caller unlinks the FIFO.
public func makeFIFO(_ path: String, feeding data: Data) -> Bool {
  guard mkfifo(path, 0o600) == 0 else { return false }
  let writer = Thread {
    if let h = FileHandle(forWritingAtPath: path) {
      h.write(data)
      try? h.close()
    }
  }
  writer.start()
  return true
}
