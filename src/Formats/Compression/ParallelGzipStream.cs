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

    /// <summary>String matching and Huffman codes at <see cref="LayerCompressionCodec.GzipLevel"/>: everything else.</summary>
    Matching,
}

/// <summary>
/// Writes one gzip member, deflated in fixed blocks of <see cref="BlockSize"/> bytes that are compressed on all
/// cores and joined in order. Each block is an independent deflate segment that ends on a byte boundary with an
/// empty stored block (a sync flush), so the segments join into one ordinary deflate stream that any gzip reader
/// takes. Each block's method (<see cref="BlockMethod"/>) is chosen from that block's bytes alone, so the output
/// depends on nothing but the input and the runtime's zlib: not on the core count, the thread timing or how the
/// caller cuts its writes. The header has no name and no time, and says Unix.
/// </summary>
public sealed class ParallelGzipStream : Stream
{
    /// <summary>The input block size. Changing it changes the output bytes (and so the blob digests).</summary>
    public const int BlockSize = 1 << 20;

    // The sample a block's method is chosen from: byte counts over every fourth page, and one trial of string
    // matching over a slice of the middle.
    private const int PageSize = 4096;
    private const int TrialSize = 64 * 1024;
    private const double StoredEntropy = 7.9; // bits per byte
    private const double MatchingGain = 0.92; // matching must beat the Huffman estimate by 8%

    private static readonly byte[] Header = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3];

    private readonly Stream _destination;
    private readonly bool _leaveOpen;
    private readonly int _maxInFlight;
    private readonly Queue<Task<Segment>> _inFlight = new();
    private readonly Crc32 _crc = new();
    private byte[] _block;
    private int _filled;
    private long _length;
    private bool _headerWritten;
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
                    Submit(final: false);
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
                    Submit(final: false);
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
        _crc.Append(data[..n]);
        _filled += n;
        _length += n;
        return n;
    }

    private void Submit(bool final)
    {
        byte[] block = _block;
        int length = _filled;
        _block = final ? [] : ArrayPool<byte>.Shared.Rent(BlockSize);
        _filled = 0;
        _inFlight.Enqueue(Task.Run(() => Compress(block, length, final)));
    }

    private void WriteSegment(Segment segment)
    {
        try
        {
            if (!_headerWritten) _destination.Write(Header);
            _headerWritten = true;
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
            if (!_headerWritten) await _destination.WriteAsync(Header, ct).ConfigureAwait(false);
            _headerWritten = true;
            await _destination.WriteAsync(segment.Bytes.AsMemory(0, segment.Length), ct).ConfigureAwait(false);
            _methodCounts[(int)segment.Method]++;
        }
        finally
        {
            segment.Return();
        }
    }

    private byte[] Trailer()
    {
        var trailer = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(trailer, _crc.GetCurrentHashAsUInt32());
        BinaryPrimitives.WriteUInt32LittleEndian(trailer.AsSpan(4), unchecked((uint)_length));
        return trailer;
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
                    Submit(final: true);
                    while (_inFlight.Count > 0) await WriteSegmentAsync(await _inFlight.Dequeue().ConfigureAwait(false), default).ConfigureAwait(false);
                    await _destination.WriteAsync(Trailer()).ConfigureAwait(false);
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
                    Submit(final: true);
                    while (_inFlight.Count > 0) WriteSegment(_inFlight.Dequeue().GetAwaiter().GetResult());
                    _destination.Write(Trailer());
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

    /// <summary>The method for a block, from its bytes alone.</summary>
    public static BlockMethod Choose(ReadOnlySpan<byte> block)
    {
        if (block.Length == 0) return BlockMethod.Matching;
        double entropy = Entropy(block);
        if (entropy >= StoredEntropy) return BlockMethod.Stored;
        // Huffman coding alone gets close to the order-0 entropy; string matching has to beat that clearly.
        int start = Math.Max(0, block.Length / 2 - TrialSize / 2);
        var trial = block.Slice(start, Math.Min(TrialSize, block.Length - start));
        // (A Huffman code takes at least one bit a byte, however skewed the bytes are.)
        double huffman = Math.Max(entropy, 1) / 8 * trial.Length;
        // Level 2, not 1: zlib-ng's level 1 uses fixed codes, which would hide what matching gains.
        long matched = DeflatedSize(trial, level: 2, ZLibCompressionStrategy.Default);
        return matched <= huffman * MatchingGain ? BlockMethod.Matching : BlockMethod.HuffmanOnly;
    }

    /// <summary>Order-0 entropy in bits per byte, over every fourth page of the block (all of a short one).</summary>
    private static double Entropy(ReadOnlySpan<byte> block)
    {
        Span<int> counts = stackalloc int[256 * 4];
        long total = 0;
        int stride = block.Length >= 16 * PageSize ? 4 * PageSize : PageSize;
        for (int page = 0; page < block.Length; page += stride)
        {
            var bytes = block.Slice(page, Math.Min(PageSize, block.Length - page));
            int i = 0;
            for (; i + 4 <= bytes.Length; i += 4)
            {
                counts[bytes[i]]++;
                counts[256 + bytes[i + 1]]++;
                counts[512 + bytes[i + 2]]++;
                counts[768 + bytes[i + 3]]++;
            }
            for (; i < bytes.Length; i++) counts[bytes[i]]++;
            total += bytes.Length;
        }
        double entropy = 0;
        for (int b = 0; b < 256; b++)
        {
            int c = counts[b] + counts[256 + b] + counts[512 + b] + counts[768 + b];
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

    private static Segment Compress(byte[] block, int length, bool final)
    {
        try
        {
            var data = block.AsSpan(0, length);
            var method = Choose(data);
            if (length == 0)
            {
                // The runtime's deflate writes nothing at all for no input: the end is one empty final block.
                var end = new PooledWriteStream(2);
                end.Write([0x03, 0x00]);
                return new Segment(end, 2, method);
            }
            if (method == BlockMethod.Stored) return Stored(data, final);
            var options = method switch
            {
                BlockMethod.HuffmanOnly => new ZLibCompressionOptions { CompressionLevel = LayerCompressionCodec.GzipLevel, CompressionStrategy = ZLibCompressionStrategy.HuffmanOnly },
                _ => new ZLibCompressionOptions { CompressionLevel = LayerCompressionCodec.GzipLevel },
            };
            // zlib falls back to stored blocks (5 bytes per 64 KiB) where coding would make the data grow.
            var output = new PooledWriteStream(length + length / 1024 + 64);
            int cut;
            using (var deflate = new DeflateStream(output, options, leaveOpen: true))
            {
                deflate.Write(data);
                if (!final)
                {
                    // A sync flush ends the segment on a byte boundary with an empty stored block (00 00 FF FF) and
                    // leaves the stream open; what the dispose writes after it (the final block) is cut off.
                    deflate.Flush();
                    cut = (int)output.Length;
                    if (!output.EndsWith([0, 0, 0xFF, 0xFF]))
                        throw new InvalidOperationException("the runtime's deflate did not end a block with a sync flush");
                }
                else cut = -1;
            }
            return new Segment(output, cut < 0 ? (int)output.Length : cut, method);
        }
        finally
        {
            if (block.Length > 0) ArrayPool<byte>.Shared.Return(block);
        }
    }

    /// <summary>
    /// Stored blocks of at most 65535 bytes, each a byte header (BFINAL on the last one of the stream), the length
    /// and its complement, then the bytes. They start and end on byte boundaries, so no flush marker is needed.
    /// </summary>
    private static Segment Stored(ReadOnlySpan<byte> data, bool final)
    {
        const int Max = 65535;
        int blocks = (data.Length + Max - 1) / Max;
        var output = new PooledWriteStream(data.Length + 5 * blocks);
        Span<byte> header = stackalloc byte[5];
        for (int at = 0; at < data.Length; at += Max)
        {
            int n = Math.Min(Max, data.Length - at);
            header[0] = (byte)(final && at + n == data.Length ? 1 : 0);
            BinaryPrimitives.WriteUInt16LittleEndian(header[1..], (ushort)n);
            BinaryPrimitives.WriteUInt16LittleEndian(header[3..], (ushort)~n);
            output.Write(header);
            output.Write(data.Slice(at, n));
        }
        return new Segment(output, (int)output.Length, BlockMethod.Stored);
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

    public bool EndsWith(ReadOnlySpan<byte> tail) => _length >= tail.Length && _buffer.AsSpan(_length - tail.Length, tail.Length).SequenceEqual(tail);

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> data)
    {
        if (_length + data.Length > _buffer.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _length + data.Length));
            _buffer.AsSpan(0, _length).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }
        data.CopyTo(_buffer.AsSpan(_length));
        _length += data.Length;
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
