using System.IO.Compression;
using System.IO.Hashing;
using System.Text;
using Occystrap.Formats.Compression;

namespace Occystrap.UnitTests;

/// <summary>Deflate with Huffman codes only, our own: valid for every inflater on every distribution of bytes.</summary>
public sealed class HuffmanDeflateTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static byte[] Encode(byte[] data)
    {
        var output = new byte[HuffmanDeflate.Bound(data.Length)];
        return output[..HuffmanDeflate.Encode(data, output)];
    }

    private static byte[] Inflate(byte[] raw)
    {
        using var inflater = new DeflateStream(new MemoryStream(raw), CompressionMode.Decompress);
        var output = new MemoryStream();
        inflater.CopyTo(output);
        return output.ToArray();
    }

    /// <summary>Byte k appears as often as the k-th Fibonacci number: the deepest Huffman tree there is, past 15 bits.</summary>
    private static byte[] Fibonacci()
    {
        var bytes = new List<byte>();
        long a = 1, b = 1;
        for (int k = 0; k < 24; k++)
        {
            for (long i = 0; i < a; i++) bytes.Add((byte)k);
            (a, b) = (b, a + b);
        }
        return [.. bytes];
    }

    private static byte[] Text(int n) =>
        Encoding.ASCII.GetBytes(Convert.ToBase64String(RandomBytes(n, 9), Base64FormattingOptions.InsertLineBreaks))[..n];

    private static byte[] RandomBytes(int n, int seed)
    {
        var bytes = new byte[n];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static TheoryData<string> Kinds => ["one byte", "one value", "two values", "fibonacci", "text", "text, pieces and a tail", "random"];

    private static byte[] Data(string kind) => kind switch
    {
        "one byte" => [42],
        "one value" => Enumerable.Repeat((byte)'a', 70_000).ToArray(),
        "two values" => Enumerable.Range(0, 10_000).Select(i => (byte)(i % 3 == 0 ? 'x' : 'y')).ToArray(),
        "fibonacci" => Fibonacci(),
        "text" => Text(HuffmanDeflate.PieceSize),
        "text, pieces and a tail" => Text(3 * HuffmanDeflate.PieceSize + 7),
        "random" => RandomBytes(2 * HuffmanDeflate.PieceSize + 1, 3),
        _ => throw new ArgumentException(kind),
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Every_distribution_inflates_back_with_dotnet_and_gnu_gzip(string kind)
    {
        var data = Data(kind);
        var raw = Encode(data);
        Assert.Equal(data, Inflate(raw));
        // GNU gzip as an independent inflater: the raw stream wrapped in a gzip member of our making.
        var crc = Crc32.HashToUInt32(data);
        byte[] member = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, .. raw, .. BitConverter.GetBytes(crc), .. BitConverter.GetBytes((uint)data.Length)];
        string path = Path.Combine(_dir.Path, "piece.gz");
        File.WriteAllBytes(path, member);
        Shell.Run($"gzip -t '{path}'");
        Assert.Equal(data.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), Shell.Run($"gzip -dc '{path}' | wc -c").Trim());
    }

    [Fact]
    public void Random_bytes_are_stored_and_text_is_as_small_as_zlibs_huffman_codes()
    {
        var random = RandomBytes(4 * HuffmanDeflate.PieceSize, 5);
        Assert.True(Encode(random).Length <= random.Length + 5 * 4 + 1, "a piece coding cannot shrink is stored");
        var text = Text(1 << 20);
        var zlib = new MemoryStream();
        using (var d = new DeflateStream(zlib, new ZLibCompressionOptions { CompressionLevel = 3, CompressionStrategy = ZLibCompressionStrategy.HuffmanOnly }, leaveOpen: true))
            d.Write(text);
        double ours = Encode(text).Length, theirs = zlib.Length;
        Assert.InRange(ours / theirs, 0.98, 1.005);
    }

    [Fact]
    public void Code_lengths_stay_within_the_limit_and_make_a_complete_code()
    {
        var counts = new int[257];
        long a = 1, b = 1;
        for (int k = 0; k < 30; k++)
        {
            counts[k] = (int)a;
            (a, b) = (b, a + b);
        }
        foreach (int limit in new[] { 15, 7 })
        {
            var lengths = new byte[counts.Length];
            HuffmanDeflate.CodeLengths(counts, lengths, limit);
            Assert.All(lengths, l => Assert.InRange(l, 0, limit));
            Assert.Equal(1.0, lengths.Where(l => l > 0).Sum(l => Math.Pow(2, -l)), 9);
            Assert.Equal(30, lengths.Count(l => l > 0));
        }
        // A lone symbol gets a partner, so that the code is complete.
        var lone = new int[19];
        lone[5] = 100;
        var loneLengths = new byte[19];
        HuffmanDeflate.CodeLengths(lone, loneLengths, 7);
        Assert.Equal(2, loneLengths.Count(l => l == 1));
        Assert.Equal(1, loneLengths[5]);
    }
}
