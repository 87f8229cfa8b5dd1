using System.Runtime.InteropServices;

namespace Occystrap.Formats.Archives;

/// <summary>What stands at a path: the distinction .NET's file API does not make (a device and a FIFO look like files).</summary>
internal enum FileKindValue
{
    Missing,
    Regular,
    Directory,
    Symlink,
    CharacterDevice,
    BlockDevice,
    Fifo,
    Socket,
    Unknown,
}

/// <summary>Reads a path's type with <c>lstat</c>, so that an output never renames a file over a device, a FIFO or a socket.</summary>
internal static class FileKind
{
    [DllImport("libc", EntryPoint = "lstat", SetLastError = true)]
    private static extern int LStat(string path, byte[] buffer);

    [DllImport("libc", EntryPoint = "stat", SetLastError = true)]
    private static extern int Stat(string path, byte[] buffer);

    /// <summary>What the path itself is (a symlink is reported as one), or with <paramref name="follow"/>, what it leads to.</summary>
    public static FileKindValue Of(string path, bool follow = false)
    {
        if (!File.Exists(path) && !Directory.Exists(path) && !IsSymlink(path)) return FileKindValue.Missing;
        // st_mode's offset in struct stat: 24 on x86-64, 16 on arm64 (glibc and musl alike).
        int? offset = RuntimeInformation.OSArchitecture switch
        {
            Architecture.X64 => 24,
            Architecture.Arm64 => 16,
            _ => null,
        };
        if (!OperatingSystem.IsLinux() || offset is null) return Fallback(path);
        var buffer = new byte[256];
        try
        {
            if ((follow ? Stat(path, buffer) : LStat(path, buffer)) != 0)
                return follow ? FileKindValue.Missing : Fallback(path);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return Fallback(path);
        }
        uint mode = BitConverter.ToUInt32(buffer, offset.Value);
        return (mode & 0xF000) switch
        {
            0x8000 => FileKindValue.Regular,
            0x4000 => FileKindValue.Directory,
            0xA000 => FileKindValue.Symlink,
            0x2000 => FileKindValue.CharacterDevice,
            0x6000 => FileKindValue.BlockDevice,
            0x1000 => FileKindValue.Fifo,
            0xC000 => FileKindValue.Socket,
            _ => FileKindValue.Unknown,
        };
    }

    /// <summary>The group id that owns the file (symlinks followed), or null when it cannot be read.</summary>
    public static uint? GroupOf(string path)
    {
        int? offset = RuntimeInformation.OSArchitecture switch { Architecture.X64 => 32, Architecture.Arm64 => 28, _ => null };
        if (!OperatingSystem.IsLinux() || offset is null) return null;
        var buffer = new byte[256];
        try
        {
            return Stat(path, buffer) == 0 ? BitConverter.ToUInt32(buffer, offset.Value) : null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    private static bool IsSymlink(string path)
    {
        try { return new FileInfo(path).LinkTarget is not null; }
        catch (IOException) { return false; }
    }

    private static FileKindValue Fallback(string path) =>
        IsSymlink(path) ? FileKindValue.Symlink : Directory.Exists(path) ? FileKindValue.Directory : FileKindValue.Regular;
}
