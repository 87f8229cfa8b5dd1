using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;

namespace Occystrap.Formats.Compression;

/// <summary>How one block of a layer is deflated; chosen from the block's own bytes.</summary>
public enum BlockMethod
{
    /// <summary>Stored as it is: the block looks incompressible (compressed or encrypted data).</summary>
    Stored,

    /// <summary>Huffman codes only, no string matching: the block has skewed bytes but few repeats (encoded text).</summary>
    HuffmanOnly,

    /// <summary>String matching and Huffman codes: libdeflate at its level 1 where the system has it, else the runtime's zlib-ng at <see cref="LayerCompressionCodec.GzipLevel"/>.</summary>
    Matching,
}

/// <summary>
/// Writes gzip in fixed blocks of <see cref="BlockSize"/> bytes that are compressed on all cores and joined in
/// order. Each block is a gzip member of its own (header, deflate stream, CRC-32 and size): the gzip format allows
/// any number of members one after the other, and readers (Go's, zlib's, .NET's, GNU gzip) give their contents
/// joined. Each block's method (<see cref="BlockMethod"/>) is chosen from that block's bytes alone, so the output
/// depends on nothing but the input and the deflate libraries (<see cref="Engine"/>, <see cref="OutputFingerprint"/>):
/// not on the core count, the thread timing or how the caller cuts its writes. The headers have no name and no time,
/// and say Unix.
/// </summary>
public sealed class ParallelGzipStream : Stream
{
    /// <summary>The input block size. Changing it changes the output bytes (and so the blob digests).</summary>
    public const int BlockSize = 1 << 20;

    // The sample a block's method is chosen from: byte counts over every fourth page, and a slice of the middle,
    // probed for repeats and, when the probe is not clear, deflated as a trial of string matching.
    private const int PageSize = 4096;
    private const int TrialSize = 64 * 1024;
    private const double StoredEntropy = 7.9; // bits per byte
    // Shares of the trial slice covered by repeats (RepeatShare) below which a block gets Huffman codes, and from
    // which it gets string matching, without the trial. On the bench images the trial agreed with both on all but
    // 5 of the 1,434 blocks that reach it, and each image compressed to the same share of its size, to 0.01%
    // (decision 0023).
    private const double FewRepeats = 0.01;
    private const double ManyRepeats = 0.25;
    // Matching must beat the Huffman estimate by 8% when zlib-ng does it at level 3, which costs several times what
    // Huffman coding costs. libdeflate's level 1 is cheap enough that with it matching needs only to be no larger,
    // which keeps real files within the size bound (decision 0022); encoded text, where it gains nothing, still
    // gets Huffman codes.
    private static readonly double MatchingGain = LibDeflate.Available ? 1.0 : 0.92;

    private static readonly byte[] Header = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3];

    private readonly Stream _destination;
    private readonly bool _leaveOpen;
    private readonly int _maxInFlight;
    private readonly Queue<Task<Segment>> _inFlight = new();
    private byte[] _block;
    private int _filled;
    private long _length;
    private bool _finished;
    private bool _failed;

    public ParallelGzipStream(Stream destination, bool leaveOpen = false)
    {
        _destination = destination;
        _leaveOpen = leaveOpen;
        // Bounded so that memory stays small with several layers at once (each block is 1 MiB in and up to 1 MiB out).
        _maxInFlight = Math.Clamp(Environment.ProcessorCount, 2, 4) + 1;
        _block = ArrayPool<byte>.Shared.Rent(BlockSize);
    }

    /// <summary>How many blocks went each way (for diagnostics and tests).</summary>
    public IReadOnlyList<int> MethodCounts => _methodCounts;

    private readonly int[] _methodCounts = new int[3];

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        try
        {
            while (data.Length > 0)
            {
                int n = Fill(data);
                data = data[n..];
                if (_filled == BlockSize)
                {
                    if (_inFlight.Count >= _maxInFlight) WriteSegment(_inFlight.Dequeue().GetAwaiter().GetResult());
                    Submit();
                }
            }
        }
        catch
        {
            // A stream that failed half-way is not finished on dispose: no trailer makes it look whole.
            _failed = true;
            throw;
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        try
        {
            while (data.Length > 0)
            {
                int n = Fill(data.Span);
                data = data[n..];
                if (_filled == BlockSize)
                {
                    if (_inFlight.Count >= _maxInFlight)
                        await WriteSegmentAsync(await _inFlight.Dequeue().ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
                    Submit();
                }
            }
        }
        catch
        {
            _failed = true;
            throw;
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void WriteByte(byte value) => Write([value]);

    /// <summary>A flush does not cut a block short: blocks are fixed so that the output is.</summary>
    public override void Flush() { }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private int Fill(ReadOnlySpan<byte> data)
    {
        int n = Math.Min(data.Length, BlockSize - _filled);
        data[..n].CopyTo(_block.AsSpan(_filled));
        _filled += n;
        _length += n;
        return n;
    }

    private void Submit(bool final = false)
    {
        byte[] block = _block;
        int length = _filled;
        _block = final ? [] : ArrayPool<byte>.Shared.Rent(BlockSize);
        _filled = 0;
        _inFlight.Enqueue(Task.Run(() => Compress(block, length)));
    }

    /// <summary>At the end: the last, short block, or one empty member when there was no input at all.</summary>
    private void SubmitLast()
    {
        if (_filled > 0 || _length == 0) Submit(final: true);
    }

    private void WriteSegment(Segment segment)
    {
        try
        {
            _destination.Write(segment.Bytes, 0, segment.Length);
            _methodCounts[(int)segment.Method]++;
        }
        finally
        {
            segment.Return();
        }
    }

    private async ValueTask WriteSegmentAsync(Segment segment, CancellationToken ct)
    {
        try
        {
            await _destination.WriteAsync(segment.Bytes.AsMemory(0, segment.Length), ct).ConfigureAwait(false);
            _methodCounts[(int)segment.Method]++;
        }
        finally
        {
            segment.Return();
        }
    }

    public override async ValueTask DisposeAsync()
    {
        if (!_finished)
        {
            _finished = true;
            try
            {
                if (!_failed)
                {
                    SubmitLast();
                    while (_inFlight.Count > 0) await WriteSegmentAsync(await _inFlight.Dequeue().ConfigureAwait(false), default).ConfigureAwait(false);
                    await _destination.FlushAsync().ConfigureAwait(false);
                }
            }
            finally
            {
                await AbandonAsync().ConfigureAwait(false);
                if (!_leaveOpen) await _destination.DisposeAsync().ConfigureAwait(false);
            }
        }
        GC.SuppressFinalize(this);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_finished)
        {
            _finished = true;
            try
            {
                if (!_failed)
                {
                    SubmitLast();
                    while (_inFlight.Count > 0) WriteSegment(_inFlight.Dequeue().GetAwaiter().GetResult());
                    _destination.Flush();
                }
            }
            finally
            {
                AbandonAsync().AsTask().GetAwaiter().GetResult();
                if (!_leaveOpen) _destination.Dispose();
            }
        }
        base.Dispose(disposing);
    }

    /// <summary>After a failure: waits for the blocks still being compressed and gives their buffers back.</summary>
    private async ValueTask AbandonAsync()
    {
        while (_inFlight.Count > 0)
        {
            _failed = true;
            try
            {
                (await _inFlight.Dequeue().ConfigureAwait(false)).Return();
            }
            catch (Exception)
            {
                // the first failure is the one reported
            }
        }
        if (_block.Length > 0) ArrayPool<byte>.Shared.Return(_block);
        _block = [];
    }

    /// <summary>The method for a block, from its bytes alone (and from whether libdeflate does the matching: see <see cref="MatchingGain"/>).</summary>
    public static BlockMethod Choose(ReadOnlySpan<byte> block)
    {
        if (block.Length == 0) return BlockMethod.Matching;
        double entropy = Entropy(block);
        if (entropy >= StoredEntropy) return BlockMethod.Stored;
        // Huffman coding alone gets close to the order-0 entropy; string matching has to beat that clearly.
        int start = Math.Max(0, block.Length / 2 - TrialSize / 2);
        var trial = block.Slice(start, Math.Min(TrialSize, block.Length - start));
        // A quick look first: where the slice has next to no repeats (encoded text) or plenty (most files), the
        // trial would only confirm it; it is run for what lies between.
        double repeats = RepeatShare(trial);
        if (repeats < FewRepeats) return BlockMethod.HuffmanOnly;
        if (repeats >= ManyRepeats) return BlockMethod.Matching;
        // (A Huffman code takes at least one bit a byte, however skewed the bytes are.)
        double huffman = Math.Max(entropy, 1) / 8 * trial.Length;
        // Level 2, not 1: zlib-ng's level 1 uses fixed codes, which would hide what matching gains.
        long matched = DeflatedSize(trial, level: 2, ZLibCompressionStrategy.Default);
        return matched <= huffman * MatchingGain ? BlockMethod.Matching : BlockMethod.HuffmanOnly;
    }

    /// <summary>
    /// The share of <paramref name="sample"/>'s bytes that a greedy parse covers with repeats of at least 5 bytes,
    /// found through a table of the last place each 4-byte value (hashed) was seen: what string matching could find,
    /// at a small part of its cost.
    /// </summary>
    internal static double RepeatShare(ReadOnlySpan<byte> sample)
    {
        const int HashBits = 12, MinRepeat = 5, MaxRepeat = 258;
        Span<int> last = stackalloc int[1 << HashBits];
        last.Fill(-1);
        long covered = 0;
        int end = sample.Length - 8;
        for (int i = 0; i < end;)
        {
            uint value = BinaryPrimitives.ReadUInt32LittleEndian(sample[i..]);
            int slot = (int)((value * 2654435761u) >> (32 - HashBits));
            int seen = last[slot];
            last[slot] = i;
            if (seen >= 0 && BinaryPrimitives.ReadUInt32LittleEndian(sample[seen..]) == value && sample[seen + 4] == sample[i + 4])
            {
                int n = MinRepeat;
                int most = Math.Min(MaxRepeat, sample.Length - i);
                while (n < most && sample[seen + n] == sample[i + n]) n++;
                covered += n;
                i += n;
            }
            else i++;
        }
        return sample.Length == 0 ? 0 : (double)covered / sample.Length;
    }

    /// <summary>Order-0 entropy in bits per byte, over every fourth page of the block (all of a short one).</summary>
    private static double Entropy(ReadOnlySpan<byte> block)
    {
        Span<int> four = stackalloc int[4 * 256];
        long total = 0;
        int stride = block.Length >= 16 * PageSize ? 4 * PageSize : PageSize;
        for (int page = 0; page < block.Length; page += stride)
        {
            var bytes = block.Slice(page, Math.Min(PageSize, block.Length - page));
            HuffmanDeflate.AddCounts(bytes, four);
            total += bytes.Length;
        }
        Span<int> counts = stackalloc int[256];
        HuffmanDeflate.Fold(four, counts);
        double entropy = 0;
        for (int b = 0; b < 256; b++)
        {
            int c = counts[b];
            if (c == 0) continue;
            double p = (double)c / total;
            entropy -= p * Math.Log2(p);
        }
        return entropy;
    }

    private static long DeflatedSize(ReadOnlySpan<byte> data, int level, ZLibCompressionStrategy strategy)
    {
        using var counter = new PooledWriteStream(data.Length + 1024);
        using (var deflate = new DeflateStream(counter, new ZLibCompressionOptions { CompressionLevel = level, CompressionStrategy = strategy }, leaveOpen: true))
            deflate.Write(data);
        return counter.Length;
    }

    /// <summary>One block as one whole gzip member.</summary>
    private static Segment Compress(byte[] block, int length)
    {
        try
        {
            var data = block.AsSpan(0, length);
            var method = Choose(data);
            // Room for the worst case of every method, so that the buffer is not grown: stored and zlib's coding
            // add at most 5 bytes per 64 KiB, and the other two say their own bounds.
            int bound = Math.Max(length + 5 * (length / 65535 + 1) + 64, HuffmanDeflate.Bound(length));
            if (LibDeflate.Available) bound = Math.Max(bound, LibDeflate.Bound(length));
            var output = new PooledWriteStream(Header.Length + bound + 8);
            output.Write(Header);
            Deflate(output, data, method);
            Span<byte> trailer = stackalloc byte[8];
            BinaryPrimitives.WriteUInt32LittleEndian(trailer, Crc32.HashToUInt32(data));
            BinaryPrimitives.WriteUInt32LittleEndian(trailer[4..], (uint)length);
            output.Write(trailer);
            return new Segment(output, (int)output.Length, method);
        }
        finally
        {
            if (block.Length > 0) ArrayPool<byte>.Shared.Return(block);
        }
    }

    /// <summary>Appends all of <paramref name="data"/> as one finished raw deflate stream, by <paramref name="method"/>.</summary>
    private static void Deflate(PooledWriteStream output, ReadOnlySpan<byte> data, BlockMethod method)
    {
        if (data.Length == 0)
        {
            // The runtime's deflate writes nothing at all for no input: the stream is one empty final block.
            output.Write([0x03, 0x00]);
        }
        else if (method == BlockMethod.Stored) Stored(output, data);
        else if (method == BlockMethod.HuffmanOnly) output.Advance(HuffmanDeflate.Encode(data, output.GetSpan(HuffmanDeflate.Bound(data.Length))));
        else if (method == BlockMethod.Matching && LibDeflate.Available)
        {
            int n = LibDeflate.Compress(data, output.GetSpan(LibDeflate.Bound(data.Length)));
            if (n == 0) throw new InvalidOperationException("libdeflate found its output larger than its own bound");
            output.Advance(n);
        }
        else
        {
            // zlib falls back to stored blocks where coding would make the data grow.
            using var deflate = new DeflateStream(output, new ZLibCompressionOptions { CompressionLevel = LayerCompressionCodec.GzipLevel }, leaveOpen: true);
            deflate.Write(data);
        }
    }

    /// <summary>
    /// Which library deflates the blocks with string matching, and at what level: libdeflate when the system has it
    /// (and <c>OCCYSTRAP_DEFLATE</c> is not <c>zlib</c>), else the runtime's zlib-ng. Stored and Huffman-only
    /// blocks are coded the same way with either.
    /// </summary>
    public static string Engine => LibDeflate.Available
        ? $"libdeflate ({LibDeflate.LibraryName}) level {LibDeflate.Level}"
        : $"the runtime's zlib-ng level {LayerCompressionCodec.GzipLevel}";

    /// <summary>
    /// 16 hex digits that change whenever the output bytes would: a hash of each method's output on a fixed
    /// sample, taken once per process. The layer cache keys its entries with it, so that a new libdeflate or
    /// runtime zlib-ng, whose bytes differ, misses instead of naming blobs this build would not make.
    /// </summary>
    public static string OutputFingerprint => s_fingerprint.Value;

    private static readonly Lazy<string> s_fingerprint = new(() =>
    {
        // 48 KiB of counting text, then 16 KiB of bytes from a fixed generator: matches, skewed bytes and noise.
        var sample = new byte[64 * 1024];
        int at = 0;
        for (int i = 1; at < 48 * 1024; i++)
            foreach (char c in i.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n")
                if (at < 48 * 1024) sample[at++] = (byte)c;
        uint x = 2463534242;
        for (; at < sample.Length; at++)
        {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5;
            sample[at] = (byte)x;
        }
        using var output = new PooledWriteStream(3 * sample.Length + 1024);
        foreach (var method in (ReadOnlySpan<BlockMethod>)[BlockMethod.Stored, BlockMethod.HuffmanOnly, BlockMethod.Matching])
            Deflate(output, sample, method);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(output.Buffer.AsSpan(0, (int)output.Length)))[..16];
    });

    /// <summary>
    /// Stored blocks of at most 65535 bytes, each a byte header (BFINAL on the last one), the length and its
    /// complement, then the bytes.
    /// </summary>
    private static void Stored(PooledWriteStream output, ReadOnlySpan<byte> data)
    {
        const int Max = 65535;
        Span<byte> header = stackalloc byte[5];
        for (int at = 0; at < data.Length; at += Max)
        {
            int n = Math.Min(Max, data.Length - at);
            header[0] = (byte)(at + n == data.Length ? 1 : 0);
            BinaryPrimitives.WriteUInt16LittleEndian(header[1..], (ushort)n);
            BinaryPrimitives.WriteUInt16LittleEndian(header[3..], (ushort)~n);
            output.Write(header);
            output.Write(data.Slice(at, n));
        }
    }

    private readonly record struct Segment(PooledWriteStream Output, int Length, BlockMethod Method)
    {
        public byte[] Bytes => Output.Buffer;

        public void Return() => Output.Dispose();
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => !_finished;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}

/// <summary>A write-only memory stream on a pooled array, grown by renting a larger one.</summary>
internal sealed class PooledWriteStream(int capacity) : Stream
{
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(capacity);
    private int _length;

    public byte[] Buffer => _buffer;

    /// <summary>Room for <paramref name="size"/> bytes at the end, to be written in place and then <see cref="Advance"/>d over.</summary>
    public Span<byte> GetSpan(int size)
    {
        Reserve(size);
        return _buffer.AsSpan(_length, size);
    }

    public void Advance(int count) => _length += count;

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> data)
    {
        Reserve(data.Length);
        data.CopyTo(_buffer.AsSpan(_length));
        _length += data.Length;
    }

    private void Reserve(int size)
    {
        if (_length + size <= _buffer.Length) return;
        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _length + size));
        _buffer.AsSpan(0, _length).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = larger;
    }

    public override void WriteByte(byte value) => Write([value]);

    public override void Flush() { }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
        base.Dispose(disposing);
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => _length;
    public override long Position { get => _length; set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
