using System.Buffers;
using System.Globalization;
using System.Text;
using Occystrap.Abstractions;

namespace Occystrap.Formats.Tar;

/// <summary>
/// Writes tar entries deterministically: the same entries give the same bytes on every run and machine.
/// Each entry is plain ustar when it fits, else ustar plus a PAX extended header named
/// <c>DIR/PaxHeaders/NAME</c> (no process id, unlike System.Formats.Tar). The archive ends with two zero blocks.
/// </summary>
public sealed class TarArchiveWriter : IDisposable
{
    private const int Block = 512;
    private const long MaxOctal7 = 0x1FFFFF;        // 7 octal digits
    private const long MaxOctal11 = 0x1FFFFFFFF;    // 11 octal digits
    private static readonly byte[] Zeros = new byte[2 * Block];
    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly byte[] _header = new byte[Block];
    private bool _finished;

    public TarArchiveWriter(Stream stream, bool leaveOpen = false)
    {
        _stream = stream;
        _leaveOpen = leaveOpen;
    }

    /// <summary>Bytes written so far.</summary>
    public long Position { get; private set; }

    /// <summary>Writes a record read by <see cref="TarArchiveReader"/>, keeping its PAX mtime text when the time is unchanged.</summary>
    /// A PAX global header that stood before it is stated again first.
    public void WriteRecord(TarRecord record)
    {
        if (record.GlobalHeaderBefore is { } global) WriteGlobalHeader(global);
        WriteEntry(record.Entry, record.Data,
            record.RawMtime is not null && record.Entry.ModificationTime == record.OriginalModificationTime ? record.RawMtime : null);
    }

    /// <summary>
    /// Writes a PAX global header (type <c>g</c>, named <c>pax_global_header</c>) holding
    /// <paramref name="records"/>: they apply to every entry written after it. Header-field records
    /// (uid, mtime…) are refused: the writer states those per entry.
    /// </summary>
    public void WriteGlobalHeader(IReadOnlyDictionary<string, byte[]> records)
    {
        if (records.Count == 0) return;
        var sorted = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (k, v) in records)
        {
            if (PaxTime.IsHeaderField(k)) throw new ArgumentException($"'{k}' is a header field, written per entry", nameof(records));
            sorted[k] = v;
        }
        WritePaxBlock("pax_global_header", (byte)'g', 0, sorted);
    }

    /// <param name="data">The content: exactly <see cref="LayerEntry.Size"/> bytes are copied from it.</param>
    /// <param name="rawMtime">A PAX mtime text to write as it is (it must denote the entry's time).</param>
    public void WriteEntry(LayerEntry entry, Stream? data, string? rawMtime = null)
    {
        long size = WriteHeaders(entry, rawMtime);
        if (size > 0)
        {
            if (data is null) throw new ArgumentException($"'{entry.Path}' needs {size} bytes of content", nameof(data));
            CopyExactly(data, size, entry.Path);
            WritePadding(size);
        }
    }

    /// <summary>Writes the header blocks of an entry (PAX extended header if needed, then ustar); returns the content size that must follow.</summary>
    public long WriteHeaders(LayerEntry entry, string? rawMtime = null)
    {
        var pax = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (k, v) in entry.ExtendedAttributes) pax[k] = v;

        byte type = entry.Kind switch
        {
            EntryKind.File => (byte)'0',
            EntryKind.HardLink => (byte)'1',
            EntryKind.Symlink => (byte)'2',
            EntryKind.CharacterDevice => (byte)'3',
            EntryKind.BlockDevice => (byte)'4',
            EntryKind.Directory => (byte)'5',
            EntryKind.Fifo => (byte)'6',
            _ => throw new ArgumentOutOfRangeException(nameof(entry), entry.Kind, "unknown entry kind"),
        };
        long size = entry.Kind == EntryKind.File ? entry.Size : 0;

        Array.Clear(_header);
        var h = _header.AsSpan();
        if (!SplitName(entry.Path, out string name, out string prefix)) pax["path"] = Utf8(entry.Path);
        PutString(h[..100], name);
        PutString(h[345..500], prefix);
        string link = entry.LinkTarget ?? "";
        if (!FitsAscii(link, 100)) pax["linkpath"] = Utf8(link);
        PutString(h[157..257], FitsAscii(link, 100) ? link : "");

        PutOctal(h[100..108], entry.Mode & 0xFFF);
        PutNumber(h[108..116], entry.Uid, MaxOctal7, "uid", pax);
        PutNumber(h[116..124], entry.Gid, MaxOctal7, "gid", pax);
        PutNumber(h[124..136], size, MaxOctal11, "size", pax);

        long? whole = PaxTime.WholeSeconds(entry.ModificationTime);
        if (rawMtime is not null) pax["mtime"] = Utf8(rawMtime);
        else if (whole is null || whole < 0 || whole > MaxOctal11) pax["mtime"] = Utf8(PaxTime.Format(entry.ModificationTime));
        long headerSeconds = entry.ModificationTime.ToUnixTimeSeconds();
        PutOctal(h[136..148], Math.Clamp(headerSeconds, 0, MaxOctal11));

        h[156] = type;
        "ustar\0"u8.CopyTo(h[257..263]);
        "00"u8.CopyTo(h[263..265]);
        PutName(h[265..297], entry.UserName, "uname", pax);
        PutName(h[297..329], entry.GroupName, "gname", pax);
        if (entry.Kind is EntryKind.CharacterDevice or EntryKind.BlockDevice)
        {
            PutOctalOrBase256(h[329..337], entry.DeviceMajor);
            PutOctalOrBase256(h[337..345], entry.DeviceMinor);
        }

        if (pax.Count > 0) WritePaxHeader(entry.Path, headerSeconds, pax);
        WriteHeaderBlock(_header);
        return size;
    }

    /// <summary>The zero bytes that pad content of <paramref name="size"/> bytes to a whole block.</summary>
    public static int PaddingFor(long size) => (int)((Block - size % Block) % Block);

    /// <summary>
    /// Writes a plain ustar file header whose name and size are filled in later with <see cref="PatchFileHeader"/>;
    /// for containers (docker-save archives) whose entry names depend on content not yet seen.
    /// Returns the header's offset.
    /// </summary>
    public long WritePlaceholderFileHeader()
    {
        long offset = Position;
        _stream.Write(Zeros, 0, Block);
        Position += Block;
        return offset;
    }

    /// <summary>
    /// Writes the header <see cref="BuildFileHeader"/> gives, for content of known size that the caller
    /// then streams into <see cref="BaseStream"/> and ends with <see cref="CompleteStreamedContent"/>.
    /// </summary>
    public void WriteFileHeader(string path, long size)
    {
        _stream.Write(BuildFileHeader(path, size));
        Position += Block;
    }

    /// <summary>Writes padding after content that was streamed straight into <see cref="BaseStream"/>.</summary>
    public void CompleteStreamedContent(long size)
    {
        Position += size;
        WritePadding(size);
    }

    /// <summary>The stream content goes to between a placeholder header and <see cref="CompleteStreamedContent"/>.</summary>
    public Stream BaseStream => _stream;

    /// <summary>Builds the final header for a placeholder; the caller writes it at the placeholder's offset.</summary>
    public static byte[] BuildFileHeader(string path, long size, int mode = 0x1A4)
    {
        var header = new byte[Block];
        var h = header.AsSpan();
        if (!SplitName(path, out string name, out string prefix))
            throw new ArgumentException($"'{path}' does not fit a ustar header", nameof(path));
        PutString(h[..100], name);
        PutString(h[345..500], prefix);
        PutOctal(h[100..108], mode);
        PutOctal(h[108..116], 0);
        PutOctal(h[116..124], 0);
        if (size > MaxOctal11) PutBase256(h[124..136], size);
        else PutOctal(h[124..136], size);
        PutOctal(h[136..148], 0);
        h[156] = (byte)'0';
        "ustar\0"u8.CopyTo(h[257..263]);
        "00"u8.CopyTo(h[263..265]);
        SetChecksum(h);
        return header;
    }

    /// <summary>Forgets everything written after <paramref name="position"/> (the caller truncated the stream there).</summary>
    public void Rewind(long position) => Position = position;

    /// <summary>Ends the archive with two zero blocks.</summary>
    public void Finish()
    {
        if (_finished) return;
        _finished = true;
        _stream.Write(Zeros, 0, Zeros.Length);
        Position += Zeros.Length;
    }

    public void Dispose()
    {
        if (!_leaveOpen) _stream.Dispose();
    }

    private void WritePaxHeader(string path, long seconds, SortedDictionary<string, byte[]> records)
    {
        string trimmed = path.TrimEnd('/');
        int slash = trimmed.LastIndexOf('/');
        string headerName = slash < 0 ? "PaxHeaders/" + trimmed : trimmed[..slash] + "/PaxHeaders/" + trimmed[(slash + 1)..];
        WritePaxBlock(headerName, (byte)'x', seconds, records);
    }

    private void WritePaxBlock(string headerName, byte type, long seconds, SortedDictionary<string, byte[]> records)
    {
        using var body = new MemoryStream();
        foreach (var (key, value) in records)
        {
            byte[] k = Utf8(key);
            int rest = 1 + k.Length + 1 + value.Length + 1; // " key=value\n"
            int length = rest + 1;
            while (length.ToString(CultureInfo.InvariantCulture).Length + rest != length) length++;
            body.Write(Utf8(length.ToString(CultureInfo.InvariantCulture)));
            body.WriteByte((byte)' ');
            body.Write(k);
            body.WriteByte((byte)'=');
            body.Write(value);
            body.WriteByte((byte)'\n');
        }

        var header = new byte[Block];
        var h = header.AsSpan();
        PutString(h[..100], TruncateUtf8(headerName, 100));
        PutOctal(h[100..108], 0x1A4);
        PutOctal(h[108..116], 0);
        PutOctal(h[116..124], 0);
        PutOctal(h[124..136], body.Length);
        PutOctal(h[136..148], Math.Clamp(seconds, 0, MaxOctal11));
        h[156] = type;
        "ustar\0"u8.CopyTo(h[257..263]);
        "00"u8.CopyTo(h[263..265]);
        WriteHeaderBlock(header);
        _stream.Write(body.GetBuffer(), 0, (int)body.Length);
        Position += body.Length;
        WritePadding(body.Length);
    }

    private void WriteHeaderBlock(byte[] header)
    {
        SetChecksum(header);
        _stream.Write(header, 0, Block);
        Position += Block;
    }

    private void CopyExactly(Stream data, long size, string path)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(128 * 1024);
        try
        {
            long left = size;
            while (left > 0)
            {
                int n = data.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
                if (n == 0) throw new TarFormatException($"'{path}': content ended {left} bytes short of its size {size}");
                _stream.Write(buffer, 0, n);
                left -= n;
            }
            Position += size;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void WritePadding(long size)
    {
        int pad = (int)((Block - size % Block) % Block);
        if (pad == 0) return;
        _stream.Write(Zeros, 0, pad);
        Position += pad;
    }

    private static void SetChecksum(Span<byte> h)
    {
        h[148..156].Fill((byte)' ');
        long sum = 0;
        foreach (byte b in h) sum += b;
        // Six octal digits, NUL, space: the form GNU tar writes.
        string digits = Convert.ToString(sum, 8).PadLeft(6, '0');
        Encoding.ASCII.GetBytes(digits, h[148..154]);
        h[154] = 0;
        h[155] = (byte)' ';
    }

    /// <summary>Splits a path into ustar name (≤100) and prefix (≤155), using the shortest prefix that works.</summary>
    private static bool SplitName(string path, out string name, out string prefix)
    {
        prefix = "";
        name = "";
        if (!IsAscii(path)) return false;
        if (path.Length <= 100)
        {
            name = path;
            return true;
        }
        for (int i = 0; i < path.Length && i <= 155; i++)
        {
            if (path[i] != '/' || i == 0) continue;
            if (path.Length - i - 1 <= 100 && path.Length - i - 1 > 0)
            {
                prefix = path[..i];
                name = path[(i + 1)..];
                return true;
            }
        }
        name = path[..100];
        return false;
    }

    private static void PutName(Span<byte> field, string? value, string key, SortedDictionary<string, byte[]> pax)
    {
        if (value is null) return;
        if (FitsAscii(value, field.Length)) PutString(field, value);
        else pax[key] = Utf8(value);
    }

    private static void PutNumber(Span<byte> field, long value, long max, string key, SortedDictionary<string, byte[]> pax)
    {
        if (value >= 0 && value <= max)
        {
            PutOctal(field, value);
            return;
        }
        pax[key] = Utf8(value.ToString(CultureInfo.InvariantCulture));
        PutOctal(field, 0);
    }

    private static void PutOctalOrBase256(Span<byte> field, long value)
    {
        if (value >= 0 && value <= MaxOctal7) PutOctal(field, value);
        else PutBase256(field, value);
    }

    private static void PutOctal(Span<byte> field, long value)
    {
        string digits = Convert.ToString(value, 8).PadLeft(field.Length - 1, '0');
        Encoding.ASCII.GetBytes(digits, field);
        field[^1] = 0;
    }

    private static void PutBase256(Span<byte> field, long value)
    {
        for (int i = field.Length - 1; i > 0; i--)
        {
            field[i] = (byte)(value & 0xFF);
            value >>= 8;
        }
        field[0] = 0x80;
    }

    private static void PutString(Span<byte> field, string value)
    {
        int n = Encoding.UTF8.GetBytes(value, field);
        if (n < field.Length) field[n..].Clear();
    }

    private static bool IsAscii(string s) => Ascii.IsValid(s) && !s.Contains('\0');

    private static bool FitsAscii(string s, int max) => IsAscii(s) && s.Length <= max;

    private static string TruncateUtf8(string s, int max)
    {
        while (Encoding.UTF8.GetByteCount(s) > max) s = s[..^1];
        return s;
    }

    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
}
