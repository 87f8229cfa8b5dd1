using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Occystrap.Formats.Compression;
using Occystrap.Formats.IO;

namespace Occystrap.UnitTests;

/// <summary>The layer compressor: valid gzip for every reader, the same bytes however it is fed, a method per block.</summary>
public sealed class ParallelGzipTests : IDisposable
{
    private const int Block = ParallelGzipStream.BlockSize;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static byte[] Random(int n, int seed)
    {
        var bytes = new byte[n];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static byte[] Text(int n, int seed) => Encoding.ASCII.GetBytes(Convert.ToBase64String(Random(n, seed), Base64FormattingOptions.InsertLineBreaks))[..n];

    private static byte[] Seq(int n)
    {
        var text = new StringBuilder();
        for (int i = 1; text.Length < n; i++) text.Append(i).Append('\n');
        return Encoding.ASCII.GetBytes(text.ToString(0, n));
    }

    /// <summary>Each kind of data in runs that cross block boundaries, plus a tail that is no whole block.</summary>
    private static byte[] Mixed() =>
        [.. Random(Block + 1000, 1), .. Text(Block * 2, 2), .. Seq(Block + 77), .. new byte[Block / 2], .. Random(12345, 3)];

    private static byte[] Compress(byte[] data, int writeSize, bool async = false)
    {
        var output = new MemoryStream();
        var gzip = new ParallelGzipStream(output, leaveOpen: true);
        for (int at = 0; at < data.Length; at += writeSize)
        {
            var piece = data.AsMemory(at, Math.Min(writeSize, data.Length - at));
            if (async) gzip.WriteAsync(piece).AsTask().GetAwaiter().GetResult();
            else gzip.Write(piece.Span);
        }
        if (async) gzip.DisposeAsync().AsTask().GetAwaiter().GetResult();
        else gzip.Dispose();
        return output.ToArray();
    }

    private static byte[] Gunzip(byte[] gz)
    {
        using var input = new GZipStream(new MemoryStream(gz), CompressionMode.Decompress);
        var output = new MemoryStream();
        input.CopyTo(output);
        return output.ToArray();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(Block - 1)]
    [InlineData(Block)]
    [InlineData(Block + 1)]
    [InlineData(3 * Block)]
    public void Round_trips_at_block_edges(int size)
    {
        var data = Mixed()[..Math.Min(size, Mixed().Length)];
        if (data.Length < size) data = [.. data, .. Seq(size - data.Length)];
        Assert.Equal(data, Gunzip(Compress(data, 65536)));
    }

    [Fact]
    public void Mixed_data_round_trips_as_one_gzip_member_per_block_and_gzip_t_accepts_it()
    {
        var data = Mixed();
        var gz = Compress(data, 100_000);
        Assert.Equal(data, Gunzip(gz));
        // Each block is a member of its own: the whole is the blocks compressed one by one, joined.
        var joined = new List<byte>();
        for (int at = 0; at < data.Length; at += Block)
        {
            var member = Compress(data[at..Math.Min(at + Block, data.Length)], Block);
            // The header has no name and no time, and says Unix; the trailer holds the block's CRC-32 and size.
            Assert.Equal(new byte[] { 0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3 }, member[..10]);
            Assert.Equal((uint)Math.Min(Block, data.Length - at), BitConverter.ToUInt32(member, member.Length - 4));
            Assert.Equal(System.IO.Hashing.Crc32.HashToUInt32(data.AsSpan(at, Math.Min(Block, data.Length - at))), BitConverter.ToUInt32(member, member.Length - 8));
            joined.AddRange(member);
        }
        Assert.Equal(joined.ToArray(), gz);
        // GNU gzip as an independent reader: it checks every member's CRC and size, and refuses trailing garbage.
        string path = Path.Combine(_dir.Path, "mixed.gz");
        File.WriteAllBytes(path, gz);
        Shell.Run($"gzip -t '{path}'");
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), Shell.Run($"gzip -dc '{path}' | sha256sum | cut -d' ' -f1").Trim());
        // And Python's zlib, member by member.
        string count = Path.Combine(_dir.Path, "members.py");
        File.WriteAllText(count, "import sys, zlib\nd = open(sys.argv[1], 'rb').read()\nn = 0\nwhile d:\n    o = zlib.decompressobj(31)\n    o.decompress(d)\n    assert o.eof\n    d = o.unused_data\n    n += 1\nprint(n)\n");
        Assert.Equal("5", Shell.Run($"python3 '{count}' '{path}'").Trim());
    }

    [Fact]
    public void No_input_is_one_empty_member_and_a_whole_number_of_blocks_gets_no_empty_one_after_them()
    {
        var empty = Compress([], 1);
        Assert.Equal(20, empty.Length);
        Assert.Empty(Gunzip(empty));
        var two = Seq(2 * Block);
        var gz = Compress(two, Block);
        Assert.Equal([.. Compress(two[..Block], Block), .. Compress(two[Block..], Block)], gz);
    }

    [Fact]
    public void Libdeflate_is_used_where_the_system_has_it_and_the_fingerprint_is_stable()
    {
        bool present = File.Exists("/usr/lib/x86_64-linux-gnu/libdeflate.so.0") || File.Exists("/lib/x86_64-linux-gnu/libdeflate.so.0");
        // ./test.sh installs libdeflate0: in CI its absence is a failure, not a reason to test less.
        if (Environment.GetEnvironmentVariable("CI") == "true") Assert.True(present, "libdeflate0 is not installed");
        if (present) Assert.StartsWith("libdeflate (libdeflate.so.0) level 1", ParallelGzipStream.Engine);
        else Assert.StartsWith("the runtime's zlib-ng", ParallelGzipStream.Engine);
        Assert.Matches("^[0-9a-f]{16}$", ParallelGzipStream.OutputFingerprint);
        Assert.Equal(ParallelGzipStream.OutputFingerprint, ParallelGzipStream.OutputFingerprint);
    }

    [Fact]
    public void The_bytes_do_not_depend_on_how_the_input_is_cut_nor_on_sync_or_async_writes()
    {
        var data = Mixed();
        var reference = Compress(data, Block);
        Assert.Equal(reference, Compress(data, 1 << 16, async: true));
        Assert.Equal(reference, Compress(data, 7777));
        Assert.Equal(reference, Compress(data, data.Length, async: true));
        Assert.Equal(reference, Compress(data, Block));
    }

    [Fact]
    public void Each_kind_of_block_gets_its_method()
    {
        Assert.Equal(BlockMethod.Stored, ParallelGzipStream.Choose(Random(Block, 4)));
        Assert.Equal(BlockMethod.HuffmanOnly, ParallelGzipStream.Choose(Text(Block, 5)));
        Assert.Equal(BlockMethod.Matching, ParallelGzipStream.Choose(Seq(Block)));
        Assert.Equal(BlockMethod.Matching, ParallelGzipStream.Choose(new byte[Block]));
        Assert.Equal(BlockMethod.Matching, ParallelGzipStream.Choose([]));
    }

    [Fact]
    public void The_repeat_probe_sees_no_repeats_in_encoded_text_and_all_of_them_in_repeated_bytes()
    {
        const int Slice = 64 * 1024;
        Assert.True(ParallelGzipStream.RepeatShare(Text(Slice, 8)) < 0.01, "base64 of random bytes has no repeats of 5 bytes");
        Assert.True(ParallelGzipStream.RepeatShare(Random(Slice, 9)) < 0.01);
        // Log lines repeat their words; counting from 1 repeats little of 5 bytes, and is left to the trial.
        var log = new StringBuilder();
        for (int i = 0; log.Length < Slice; i++) log.Append("2026-01-01T00:00:").Append(i % 60).Append(" INFO worker-").Append(i % 8).Append(" request ").Append(i).Append(" served\n");
        Assert.InRange(ParallelGzipStream.RepeatShare(Encoding.ASCII.GetBytes(log.ToString(0, Slice))), 0.25, 1);
        Assert.InRange(ParallelGzipStream.RepeatShare(Seq(Slice)), 0.01, 0.25);
        Assert.True(ParallelGzipStream.RepeatShare(new byte[Slice]) > 0.99);
        // 1 KiB of noise said 64 times: everything but the first copy (and the unprobed tail) is a repeat.
        var noise = Random(1024, 10);
        var repeated = Enumerable.Range(0, 64).SelectMany(_ => noise).ToArray();
        double share = ParallelGzipStream.RepeatShare(repeated);
        Assert.InRange(share, 62.0 / 64, 63.0 / 64);
        Assert.Equal(0, ParallelGzipStream.RepeatShare([]));
        Assert.Equal(0, ParallelGzipStream.RepeatShare([1, 2, 3, 1, 2, 3, 1, 2]));
    }

    [Fact]
    public void Random_data_grows_by_at_most_a_tenth_of_a_percent_and_text_shrinks_as_huffman_codes_allow()
    {
        var random = Random(4 * Block, 6);
        Assert.True(Compress(random, Block).Length < random.Length * 1.001 + 100);
        var text = Text(4 * Block, 7);
        Assert.True(Compress(text, Block).Length < text.Length * 0.78, "base64 text takes 6 bits a byte");
    }

    [Fact]
    public void A_failed_destination_surfaces_and_no_trailer_is_written_after_it()
    {
        var sink = new FailingStream(failAfter: Block);
        var gzip = new ParallelGzipStream(sink, leaveOpen: true);
        var data = Mixed();
        var e = Record.Exception(() =>
        {
            for (int i = 0; i < 4; i++) gzip.Write(data);
        });
        Assert.IsType<IOException>(e);
        long written = sink.Written;
        gzip.Dispose();
        Assert.Equal(written, sink.Written);
    }

    [Fact]
    public void Read_ahead_gives_the_same_bytes_and_its_inner_errors_in_order()
    {
        var data = Mixed();
        using (var ahead = new ReadAheadStream(new MemoryStream(data), chunkSize: 100_000, chunks: 2))
        {
            var copy = new MemoryStream();
            ahead.CopyTo(copy, 33_333);
            Assert.Equal(data, copy.ToArray());
            Assert.Equal(0, ahead.Read(new byte[10]));
        }
        using (var ahead = new ReadAheadStream(new BreakingReadStream(data, 250_000), chunkSize: 100_000))
        {
            var copy = new MemoryStream();
            var e = Record.Exception(() => ahead.CopyTo(copy));
            Assert.IsType<IOException>(e);
            Assert.Equal("broken at 250000", e.Message);
            Assert.Equal(data[..200_000], copy.ToArray());
        }
    }

    private sealed class FailingStream(long failAfter) : MemoryStream
    {
        public long Written { get; private set; }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (Written + buffer.Length > failAfter) throw new IOException("disk full");
            Written += buffer.Length;
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
    }

    /// <summary>Reads its data, then fails at <paramref name="breakAt"/>.</summary>
    private sealed class BreakingReadStream(byte[] data, int breakAt) : ReadOnlyStream
    {
        private int _at;

        public override int Read(Span<byte> buffer)
        {
            if (_at >= breakAt) throw new IOException($"broken at {breakAt}");
            int n = Math.Min(buffer.Length, Math.Min(breakAt, data.Length) - _at);
            data.AsSpan(_at, n).CopyTo(buffer);
            _at += n;
            return n;
        }
    }
}
