// The Python the attack tests' workloads share for a rename race: `libc` (errno kept), `exchanging(a,
// b)`, which swaps two names of the current directory with renameat2(RENAME_EXCHANGE) in a thread
// until the stop() it returns is called, and `note(k)`, which counts outcomes in `seen`.
export const PYTHON_RACE = String.raw`
import ctypes, os, threading
libc = ctypes.CDLL(None, use_errno=True)
libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
def exchanging(a, b):
  state = {"stop": False}
  def swap():
    while not state["stop"]: libc.renameat2(-100, a, -100, b, 2)  # AT_FDCWD, RENAME_EXCHANGE
  th = threading.Thread(target=swap); th.start()
  def stop(): state["stop"] = True; th.join()
  return stop
seen = {}
def note(k): seen[k] = seen.get(k, 0) + 1
`;
