/**
 * Runs a command whose file reads fail past a byte offset, as on a disk with a bad sector:
 * `bun eio_after.ts OFFSET -- COMMAND ARGS...` installs a seccomp filter that answers every
 * pread64 at or beyond OFFSET with EIO, then execs the command (the filter is inherited).
 * pacer reads media with positioned reads, so its loads fail mid-file and nothing else does;
 * no test hook sits in pacer's read path. Linux x86-64 and arm64.
 */
import { ptr } from "bun:ffi";
import { libc } from "../../foundation/libc.ts";

const PR_SET_NO_NEW_PRIVS = 38;
const PR_SET_SECCOMP = 22;
const SECCOMP_MODE_FILTER = 2;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_ERRNO = 0x00050000;
const EIO = 5;
// Per architecture: its audit id, pread64's and execve's system call numbers.
const ARCH = process.arch === "arm64" ? { audit: 0xc00000b7, pread64: 67, execve: 221 } : { audit: 0xc000003e, pread64: 17, execve: 59 };

const [offsetText, dashes, ...command] = process.argv.slice(2);
const offset = Number(offsetText);
if (!(offset > 0 && offset < 2 ** 32) || dashes !== "--" || command.length === 0) {
  console.error("usage: eio_after.ts OFFSET -- COMMAND ARGS...");
  process.exit(2);
}
const c = libc();
if (!c) throw new Error("eio_after: no libc");

// struct sock_filter { u16 code; u8 jt; u8 jf; u32 k }, over struct seccomp_data
// { i32 nr; u32 arch; u64 ip; u64 args[6] }: pread64's offset is args[3], at byte 40.
const LD_ABS = 0x20;
const JEQ = 0x15;
const JGT = 0x25;
const JGE = 0x35;
const RET = 0x06;
const program: [number, number, number, number][] = [
  [LD_ABS, 0, 0, 4], // arch
  [JEQ, 0, 6, ARCH.audit], // another ABI: allow
  [LD_ABS, 0, 0, 0], // nr
  [JEQ, 0, 4, ARCH.pread64], // not pread64: allow
  [LD_ABS, 0, 0, 44], // offset, high word
  [JGT, 3, 0, 0], // beyond 4 GiB: EIO
  [LD_ABS, 0, 0, 40], // offset, low word
  [JGE, 1, 0, offset], // at or past the bad spot: EIO
  [RET, 0, 0, SECCOMP_RET_ALLOW],
  [RET, 0, 0, SECCOMP_RET_ERRNO | EIO],
];
const memory = new ArrayBuffer(program.length * 8 + 16);
const view = new DataView(memory);
program.forEach(([code, jt, jf, k], i) => {
  view.setUint16(i * 8, code, true);
  view.setUint8(i * 8 + 2, jt);
  view.setUint8(i * 8 + 3, jf);
  view.setUint32(i * 8 + 4, k, true);
});
const bytes = new Uint8Array(memory);
const filterAt = ptr(bytes);
const fprog = program.length * 8;
view.setUint16(fprog, program.length, true);
view.setBigUint64(fprog + 8, BigInt(filterAt), true);

// execve's strings and pointer arrays, made before the filter. All in ArrayBuffers made first, so
// no pointer is taken to storage that JSC might move.
const path = Bun.which(command[0]!) ?? command[0]!;
const texts = [path, ...command, ...Object.entries(process.env).map(([k, v]) => `${k}=${v}`)].map((s) => new TextEncoder().encode(`${s}\0`));
const text = new Uint8Array(new ArrayBuffer(texts.reduce((n, t) => n + t.length, 0)));
const starts: number[] = [];
texts.reduce((at, t) => (text.set(t, at), starts.push(at), at + t.length), 0);
const textAt = ptr(text);
const argv = new BigUint64Array(new ArrayBuffer((command.length + 1) * 8));
const envp = new BigUint64Array(new ArrayBuffer((texts.length - command.length) * 8));
for (let i = 1; i < texts.length; i++) {
  if (i <= command.length) argv[i - 1] = BigInt(textAt + starts[i]!);
  else envp[i - 1 - command.length] = BigInt(textAt + starts[i]!);
}

if (c.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) !== 0) throw new Error("eio_after: PR_SET_NO_NEW_PRIVS failed");
if (c.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ptr(bytes, fprog), 0, 0) !== 0) throw new Error("eio_after: PR_SET_SECCOMP failed");
c.syscall(ARCH.execve, textAt, ptr(argv), ptr(envp), 0);
throw new Error(`eio_after: cannot exec ${path}`);
