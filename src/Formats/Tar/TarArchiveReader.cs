using System.Buffers;
using System.Globalization;
using System.Text;
using Occystrap.Abstractions;
using Occystrap.Formats.IO;

namespace Occystrap.Formats.Tar;

/// <summary>
/// Reads tar archives (ustar, PAX, GNU, v7) entry by entry from any stream, seekable or not.
/// PAX record values are kept as raw bytes, so binary xattrs such as <c>security.capability</c>
/// survive; System.Formats.Tar decodes them as UTF-8 and loses bytes that are not valid UTF-8.
/// </summary>
public sealed class TarArchiveReader : IDisposable
{
    private const int Block = 512;
    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly byte[] _header = new byte[Block];
    private const int MaxPaxHeaderBytes = 1024 * 1024;
    private const int MaxPaxRecords = 4096;
    private const int MaxLongNameBytes = 64 * 1024;

    // What the PAX global headers read so far say. Records that restate header fields (uid, mtime…)
    // are defaults for the entries that follow; the others are kept apart, in GlobalAttributes, and
    // never copied into each entry, so that a writer can state them once again instead of per entry.
    private readonly Dictionary<string, byte[]> _globalFields = new(StringComparer.Ordinal);
    private IReadOnlyDictionary<string, byte[]>? _globalAttributes;
    private Dictionary<string, byte[]>? _globalHeader;
    private long _position;
    private long _nextHeader;
    private EntryDataStream? _current;
    private bool _done;

    public TarArchiveReader(Stream stream, bool leaveOpen = false)
    {
        _stream = stream;
        _leaveOpen = leaveOpen;
    }

    /// <summary>What the archive is called in error messages.</summary>
    public string Description { get; init; } = "archive";

    /// <summary>Reads the next entry, or null at the end of the archive. Skips the unread content of the previous one.</summary>
    public TarRecord? Next()
    {
        if (_done) return null;
        SkipTo(_nextHeader);

        Dictionary<string, byte[]>? pax = null;
        string? longName = null, longLink = null;
        long headerOffset = _position;
        while (true)
        {
            if (!ReadBlock(_header, allowEnd: true))
            {
                _done = true;
                return null;
            }
            if (IsZero(_header))
            {
                // End of archive: one or two zero blocks. Whatever follows is padding.
                _done = true;
                return null;
            }
            VerifyChecksum(headerOffset);
            byte type = _header[156];
            long size = ParseNumber(_header.AsSpan(124, 12), "size");
            if (size < 0) throw Bad($"negative size in the header at offset {headerOffset}");
            switch ((char)type)
            {
                case 'x':
                    pax ??= new Dictionary<string, byte[]>(StringComparer.Ordinal);
                    ParsePax(ReadSmall(size, MaxPaxHeaderBytes, "PAX header"), pax);
                    continue;
                case 'g':
                    ReadGlobalHeader(size);
                    headerOffset = _position;
                    continue;
                case 'L':
                    longName = CString(ReadSmall(size, MaxLongNameBytes, "GNU long name"));
                    continue;
                case 'K':
                    longLink = CString(ReadSmall(size, MaxLongNameBytes, "GNU long link name"));
                    continue;
            }
            return BuildRecord(type, size, pax, longName, longLink, headerOffset);
        }
    }

    private TarRecord BuildRecord(byte type, long size, Dictionary<string, byte[]>? pax, string? longName, string? longLink, long headerOffset)
    {
        var h = _header.AsSpan();
        bool ustar = h[257..263].SequenceEqual("ustar\0"u8);
        string name = CString(h[..100]);
        if (ustar)
        {
            string prefix = CString(h[345..500]);
            if (prefix.Length > 0) name = prefix + "/" + name;
        }
        if (longName is not null) name = longName;
        string link = longLink ?? CString(h[157..257]);

        var merged = _globalFields.Count == 0 && pax is null ? null : new Dictionary<string, byte[]>(_globalFields, StringComparer.Ordinal);
        if (pax is not null)
            foreach (var (k, v) in pax) merged![k] = v;

        if (merged is not null && merged.ContainsKey("GNU.sparse.major") || type == (byte)'S')
            throw Bad($"'{name}' is a sparse file, which is not supported");

        string? Text(string key) => merged is not null && merged.TryGetValue(key, out var v) ? Encoding.UTF8.GetString(v) : null;
        name = Text("path") ?? name;
        link = Text("linkpath") ?? link;
        if (Text("size") is { } s) size = ParsePaxLong(s, "size");
        if (size < 0) throw Bad($"'{name}' has a negative size ({size})");

        EntryKind kind = (char)type switch
        {
            '0' or '\0' or '7' => name.EndsWith('/') ? EntryKind.Directory : EntryKind.File,
            '1' => EntryKind.HardLink,
            '2' => EntryKind.Symlink,
            '3' => EntryKind.CharacterDevice,
            '4' => EntryKind.BlockDevice,
            '5' or 'D' => EntryKind.Directory,
            '6' => EntryKind.Fifo,
            _ => throw Bad($"'{name}' has the unsupported tar entry type '{(char)type}'"),
        };
        // As in Go's archive/tar: links, devices, fifos and directories have no data blocks whatever the size field says.
        bool headerOnly = type is (byte)'1' or (byte)'2' or (byte)'3' or (byte)'4' or (byte)'5' or (byte)'6';
        long dataSize = kind == EntryKind.File ? size : 0;

        var entry = new LayerEntry(name, kind, dataSize)
        {
            LinkTarget = kind is EntryKind.HardLink or EntryKind.Symlink ? link : null,
            Mode = (int)(ParseNumber(h[100..108], "mode") & 0xFFF),
            Uid = ParseNumber(h[108..116], "uid"),
            Gid = ParseNumber(h[116..124], "gid"),
            ModificationTime = PaxTime.FromSeconds(ParseNumber(h[136..148], "mtime"), name),
        };
        if (ustar || h[257..263].SequenceEqual("ustar "u8))
        {
            entry.UserName = NullIfEmpty(CString(h[265..297]));
            entry.GroupName = NullIfEmpty(CString(h[297..329]));
            if (kind is EntryKind.CharacterDevice or EntryKind.BlockDevice)
            {
                entry.DeviceMajor = (int)ParseNumber(h[329..337], "devmajor");
                entry.DeviceMinor = (int)ParseNumber(h[337..345], "devminor");
            }
        }

        string? rawMtime = null;
        if (merged is not null)
        {
            if (Text("uid") is { } uid) entry.Uid = ParsePaxLong(uid, "uid");
            if (Text("gid") is { } gid) entry.Gid = ParsePaxLong(gid, "gid");
            if (entry.Uid < 0 || entry.Gid < 0) throw Bad($"'{name}' has a negative owner ({entry.Uid}:{entry.Gid})");
            if (Text("uname") is { } uname) entry.UserName = NullIfEmpty(uname);
            if (Text("gname") is { } gname) entry.GroupName = NullIfEmpty(gname);
            if (Text("mtime") is { } mtime)
            {
                rawMtime = mtime;
                entry.ModificationTime = PaxTime.Parse(mtime);
            }
            foreach (var (k, v) in merged)
                if (!PaxTime.IsHeaderField(k)) entry.ExtendedAttributes[k] = v;
        }

        long dataOffset = _position;
        _current = new EntryDataStream(this, dataSize);
        long stored = headerOnly ? 0 : size;
        _nextHeader = dataOffset + stored + Pad(stored);
        var globalHeader = _globalHeader;
        _globalHeader = null;
        return new TarRecord(entry, rawMtime, headerOffset, dataOffset, _current)
        {
            GlobalAttributes = _globalAttributes,
            GlobalHeaderBefore = globalHeader,
        };
    }

    /// <summary>
    /// A PAX global header: its header-field records become defaults for what follows, the others join
    /// <see cref="TarRecord.GlobalAttributes"/>. A record with an empty value removes the key, as POSIX says.
    /// </summary>
    private void ReadGlobalHeader(long size)
    {
        var records = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        ParsePax(ReadSmall(size, MaxPaxHeaderBytes, "PAX global header"), records);
        Dictionary<string, byte[]>? attributes = null;
        foreach (var (key, value) in records)
        {
            if (key is "path" or "linkpath" or "size")
                throw Bad($"a PAX global header sets '{key}', which would apply to every entry that follows");
            if (PaxTime.IsHeaderField(key))
            {
                if (value.Length == 0) _globalFields.Remove(key);
                else _globalFields[key] = value;
                continue;
            }
            attributes ??= _globalAttributes is null
                ? new Dictionary<string, byte[]>(StringComparer.Ordinal)
                : new Dictionary<string, byte[]>(_globalAttributes, StringComparer.Ordinal);
            if (value.Length == 0) attributes.Remove(key);
            else attributes[key] = value;
            _globalHeader ??= new Dictionary<string, byte[]>(StringComparer.Ordinal);
            _globalHeader[key] = value;
        }
        if (attributes is not null)
        {
            if (attributes.Count > MaxPaxRecords) throw Bad($"PAX global headers hold more than {MaxPaxRecords} records");
            _globalAttributes = attributes.Count == 0 ? null : attributes;
        }
    }

    private static long Pad(long size) => (Block - size % Block) % Block;

    private void VerifyChecksum(long offset)
    {
        long stored = ParseNumber(_header.AsSpan(148, 8), "checksum");
        long unsigned = 0, signed = 0;
        for (int i = 0; i < Block; i++)
        {
            byte b = i is >= 148 and < 156 ? (byte)' ' : _header[i];
            unsigned += b;
            signed += (sbyte)b;
        }
        if (stored != unsigned && stored != signed)
            throw Bad($"the {Description} is not a tar archive, or it is corrupt: bad header checksum at offset {offset}");
    }

    private byte[] ReadSmall(long size, int limit, string what)
    {
        if (size > limit) throw Bad($"{what} of {size} bytes is too large (the limit is {limit} bytes)");
        var buffer = new byte[size];
        ReadExactly(buffer, what);
        SkipTo(_position + Pad(size));
        return buffer;
    }

    private void ParsePax(byte[] data, Dictionary<string, byte[]> into)
    {
        int pos = 0;
        while (pos < data.Length)
        {
            if (data[pos] == 0) break;
            int space = Array.IndexOf(data, (byte)' ', pos);
            if (space < 0 || !int.TryParse(data.AsSpan(pos, space - pos), NumberStyles.None, CultureInfo.InvariantCulture, out int length)
                || length <= space - pos || length > data.Length - pos || data[pos + length - 1] != (byte)'\n')
                throw Bad("malformed PAX extended header");
            int eq = Array.IndexOf(data, (byte)'=', space + 1, pos + length - space - 1);
            if (eq < 0) throw Bad("malformed PAX extended header record");
            string key = Encoding.UTF8.GetString(data, space + 1, eq - space - 1);
            into[key] = data.AsSpan(eq + 1, pos + length - 1 - (eq + 1)).ToArray();
            if (into.Count > MaxPaxRecords) throw Bad($"a PAX header holds more than {MaxPaxRecords} records");
            pos += length;
        }
    }

    private bool ReadBlock(byte[] buffer, bool allowEnd)
    {
        int read = 0;
        while (read < Block)
        {
            int n = _stream.Read(buffer, read, Block - read);
            if (n == 0)
            {
                if (read == 0 && allowEnd) return false;
                if (_position == 0) throw Bad($"the {Description} is not a tar archive: it is only {read} bytes long");
                throw Bad($"the {Description} is truncated at offset {_position + read}");
            }
            read += n;
        }
        _position += Block;
        return true;
    }

    private void ReadExactly(Span<byte> buffer, string what)
    {
        int read = 0;
        while (read < buffer.Length)
        {
            int n = _stream.Read(buffer[read..]);
            if (n == 0) throw Bad($"the {Description} is truncated inside {what} at offset {_position}");
            read += n;
            _position += n;
        }
    }

    internal int ReadData(Span<byte> buffer)
    {
        int n = _stream.Read(buffer);
        _position += n;
        return n;
    }

    private void SkipTo(long target)
    {
        if (_current is not null) _current.Detach();
        _current = null;
        long skip = target - _position;
        if (skip <= 0) return;
        if (_stream.CanSeek)
        {
            if (_stream.Position + skip > _stream.Length)
                throw Bad($"the {Description} is truncated at offset {_stream.Length}");
            _stream.Seek(skip, SeekOrigin.Current);
            _position = target;
            return;
        }
        byte[] scratch = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (_position < target)
            {
                int n = _stream.Read(scratch, 0, (int)Math.Min(scratch.Length, target - _position));
                if (n == 0) throw Bad($"the {Description} is truncated at offset {_position}");
                _position += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private static bool IsZero(ReadOnlySpan<byte> block) => !block.ContainsAnyExcept((byte)0);

    private static string CString(ReadOnlySpan<byte> field)
    {
        int nul = field.IndexOf((byte)0);
        return Encoding.UTF8.GetString(nul < 0 ? field : field[..nul]);
    }

    private static string? NullIfEmpty(string s) => s.Length == 0 ? null : s;

    /// <summary>Octal (with NUL or space padding) or GNU base-256 when the top bit is set.</summary>
    private long ParseNumber(ReadOnlySpan<byte> field, string what)
    {
        if (field.Length > 0 && (field[0] & 0x80) != 0)
        {
            bool negative = (field[0] & 0x40) != 0;
            long value = field[0] & 0x3F;
            if (negative) value -= 0x40;
            for (int i = 1; i < field.Length; i++)
            {
                // Base-256 fields hold up to 95 bits: anything that does not fit in 64 is refused, not wrapped.
                if (value > long.MaxValue >> 8 || value < long.MinValue >> 8)
                    throw Bad($"the {what} field in the header at offset {_position - Block} is out of range");
                value = (value << 8) | field[i];
            }
            return value;
        }
        long result = 0;
        bool started = false;
        foreach (byte b in field)
        {
            if (b is (byte)' ' or 0)
            {
                if (started) break;
                continue;
            }
            if (b is < (byte)'0' or > (byte)'7') throw Bad($"the {Description} is not a tar archive, or it is corrupt: invalid {what} field in the header at offset {_position - Block}");
            started = true;
            result = (result << 3) | (long)(b - '0');
        }
        return result;
    }

    private static long ParsePaxLong(string value, string what) =>
        long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v)
            ? v
            : throw new TarFormatException($"invalid PAX {what} record '{value}'");

    private TarFormatException Bad(string message) => new(message);

    public void Dispose()
    {
        if (!_leaveOpen) _stream.Dispose();
    }

    /// <summary>The content of the current entry; stops at its end.</summary>
    private sealed class EntryDataStream(TarArchiveReader owner, long size) : ReadOnlyStream
    {
        private readonly long _length = size;
        private TarArchiveReader? _owner = owner;
        private long _remaining = size;

        public void Detach() => _owner = null;


        public override int Read(Span<byte> buffer)
        {
            if (_remaining == 0 || buffer.Length == 0) return 0;
            var owner = _owner ?? throw new InvalidOperationException("the tar entry's content was read after moving to the next entry");
            int n = owner.ReadData(buffer[..(int)Math.Min(buffer.Length, _remaining)]);
            if (n == 0) throw new TarFormatException($"the {owner.Description} is truncated inside an entry's content");
            _remaining -= n;
            return n;
        }

        public override long Length => _length;
        public override long Position { get => _length - _remaining; set => throw new NotSupportedException(); }
    }
}
