using System.Runtime.InteropServices;

namespace Occystrap.Formats.Extract;

/// <summary>
/// The Linux calls the extractor resolves and creates with, every one relative to a directory descriptor.
/// Paths are strings (marshalled as UTF-8) or NUL-terminated bytes (names read back from a directory).
/// </summary>
internal static class Native
{
    // Flags and errno values shared by the Linux architectures .NET runs on, except where noted.
    public const int O_RDONLY = 0, O_WRONLY = 1, O_CREAT = 0x40, O_EXCL = 0x80, O_CLOEXEC = 0x80000, O_PATH = 0x200000;
    public const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200;
    public const int EPERM = 1, ENOENT = 2, EACCES = 13, EEXIST = 17, ENOTDIR = 20, EINVAL = 22, ELOOP = 40, ENOTSUP = 95;
    public const uint S_IFMT = 0xF000, S_IFDIR = 0x4000, S_IFLNK = 0xA000, S_IFREG = 0x8000,
        S_IFCHR = 0x2000, S_IFBLK = 0x6000, S_IFIFO = 0x1000;

    // O_DIRECTORY and O_NOFOLLOW differ on arm and powerpc (asm/fcntl.h).
    private static readonly bool ArmLike = RuntimeInformation.OSArchitecture is Architecture.Arm64 or Architecture.Arm or Architecture.Ppc64le;
    public static readonly int O_DIRECTORY = ArmLike ? 0x4000 : 0x10000;
    public static readonly int O_NOFOLLOW = ArmLike ? 0x8000 : 0x20000;

    [DllImport("libc", SetLastError = true)] public static extern int openat(int dirfd, string path, int flags, uint mode);
    [DllImport("libc", SetLastError = true)] public static extern int openat(int dirfd, byte[] path, int flags, uint mode);
    [DllImport("libc", SetLastError = true)] public static extern int close(int fd);
    [DllImport("libc", SetLastError = true)] public static extern int mkdirat(int dirfd, string path, uint mode);
    [DllImport("libc", SetLastError = true)] public static extern int symlinkat(string target, int dirfd, string path);
    [DllImport("libc", SetLastError = true)] public static extern int linkat(int olddirfd, string oldpath, int newdirfd, string newpath, int flags);
    [DllImport("libc", SetLastError = true)] public static extern int unlinkat(int dirfd, string path, int flags);
    [DllImport("libc", SetLastError = true)] public static extern int unlinkat(int dirfd, byte[] path, int flags);
    [DllImport("libc", SetLastError = true)] public static extern int mknodat(int dirfd, string path, uint mode, ulong dev);
    [DllImport("libc", SetLastError = true)] public static extern int fchownat(int dirfd, string path, uint owner, uint group, int flags);
    [DllImport("libc", SetLastError = true)] public static extern int fchmodat(int dirfd, string path, uint mode, int flags);
    [DllImport("libc", SetLastError = true)] public static extern int utimensat(int dirfd, string path, long[] times, int flags);
    [DllImport("libc", SetLastError = true)] public static extern nint readlinkat(int dirfd, string path, byte[] buffer, nint size);
    [DllImport("libc", SetLastError = true)] public static extern int lsetxattr(string path, string name, byte[] value, nuint size, int flags);
    [DllImport("libc", SetLastError = true)] public static extern int statx(int dirfd, string path, int flags, uint mask, byte[] buffer);
    [DllImport("libc", SetLastError = true)] public static extern int statx(int dirfd, byte[] path, int flags, uint mask, byte[] buffer);
    [DllImport("libc", SetLastError = true)] public static extern IntPtr fdopendir(int fd);
    [DllImport("libc", SetLastError = true)] public static extern IntPtr readdir(IntPtr dir);
    [DllImport("libc", SetLastError = true)] public static extern int closedir(IntPtr dir);
    [DllImport("libc")] public static extern uint geteuid();
    [DllImport("libc")] public static extern uint getegid();

    public static int Errno => Marshal.GetLastPInvokeError();

    public static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    /// <summary>dev_t as glibc's makedev builds it.</summary>
    public static ulong MakeDev(int major, int minor)
    {
        ulong ma = (uint)major, mi = (uint)minor;
        return ((ma & 0xfff) << 8) | (mi & 0xff) | ((mi & ~0xffUL) << 12) | ((ma & ~0xfffUL) << 32);
    }

    /// <summary>The file type bits (S_IFMT) of what stands at <paramref name="name"/> in <paramref name="dirfd"/>, not following a symlink; 0 when nothing does.</summary>
    public static uint TypeAt(int dirfd, string name, byte[] buffer) => TypeOf(statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_TYPE, buffer), buffer);

    public static uint TypeAt(int dirfd, byte[] name, byte[] buffer) => TypeOf(statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_TYPE, buffer), buffer);

    private const uint STATX_TYPE = 1;

    // struct statx: stx_mode is the u16 at offset 28 on every architecture.
    private static uint TypeOf(int rc, byte[] buffer) =>
        rc == 0 ? BitConverter.ToUInt16(buffer, 28) & S_IFMT
        : Errno is ENOENT or ENOTDIR ? 0u
        : throw new IOException($"statx: {Describe(Errno)}");

    private static readonly byte[] Dot = [(byte)'.', 0];
    public const byte DT_UNKNOWN = 0, DT_DIR = 4;

    /// <summary>The names in the directory <paramref name="dirfd"/> (without . and ..) as NUL-terminated bytes, with their d_type (<see cref="DT_UNKNOWN"/> when the filesystem does not say).</summary>
    public static List<(byte[] Name, byte Type)> List(int dirfd)
    {
        int fd = openat(dirfd, Dot, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd < 0) throw new IOException($"cannot open the directory: {Describe(Errno)}");
        IntPtr dir = fdopendir(fd);
        if (dir == IntPtr.Zero)
        {
            int e = Errno;
            close(fd);
            throw new IOException($"cannot read the directory: {Describe(e)}");
        }
        var result = new List<(byte[], byte)>();
        try
        {
            // struct dirent64 on glibc: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
            while (readdir(dir) is var ent && ent != IntPtr.Zero)
            {
                int len = 0;
                while (Marshal.ReadByte(ent, 19 + len) != 0) len++;
                var bytes = new byte[len + 1];
                Marshal.Copy(ent + 19, bytes, 0, len);
                if (len == 1 && bytes[0] == '.' || len == 2 && bytes[0] == '.' && bytes[1] == '.') continue;
                result.Add((bytes, Marshal.ReadByte(ent, 18)));
            }
        }
        finally
        {
            closedir(dir);
        }
        return result;
    }
}
