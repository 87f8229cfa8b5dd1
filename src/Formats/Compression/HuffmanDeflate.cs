using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Occystrap.Formats.Compression;

/// <summary>
/// Deflate with Huffman codes only, no string matching (RFC 1951): the method for encoded text. The input is cut
/// into pieces of <see cref="PieceSize"/> bytes. Each piece is one deflate block with codes built from its own byte
/// counts, or a stored block when coding would not make it smaller. Our own code, so the bytes depend on the input
/// alone, not on a library's version; and faster than zlib-ng's Huffman-only strategy (decision 0022).
/// </summary>
internal static class HuffmanDeflate
{
    /// <summary>The input of one deflate block; also the most a stored block can hold.</summary>
    public const int PieceSize = 65535;

    private const int MaxCodeBits = 15;
    private const int MaxLengthCodeBits = 7;
    private const int EndOfBlock = 256;
    private const int LiteralCodes = 257; // the 256 bytes and the end of block; no lengths
    private static readonly byte[] LengthCodeOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

    /// <summary>The most bytes <see cref="Encode"/> writes for <paramref name="length"/> input bytes.</summary>
    public static int Bound(int length) => length + 6 * (length / PieceSize + 1) + 16;

    /// <summary>Writes all of <paramref name="data"/> (not empty) into <paramref name="output"/> as one finished raw deflate stream; returns its length.</summary>
    public static int Encode(ReadOnlySpan<byte> data, Span<byte> output)
    {
        var bits = new BitWriter(output);
        Span<int> counts = stackalloc int[LiteralCodes];
        Span<byte> lengths = stackalloc byte[LiteralCodes];
        Span<uint> codes = stackalloc uint[LiteralCodes];
        for (int at = 0; at < data.Length; at += PieceSize)
        {
            var piece = data.Slice(at, Math.Min(PieceSize, data.Length - at));
            bool last = at + piece.Length == data.Length;
            Count(piece, counts);
            counts[EndOfBlock] = 1;
            CodeLengths(counts, lengths, MaxCodeBits);
            var header = new BlockHeader(lengths);
            long coded = 3 + header.Bits + 7;
            for (int b = 0; b < LiteralCodes; b++) coded += (long)counts[b] * lengths[b];
            if (coded / 8 >= piece.Length + 5)
            {
                bits.Put(last ? 1u : 0u, 3); // BFINAL, BTYPE 00: stored
                bits.AlignToByte();
                bits.PutBytes((ushort)piece.Length, (ushort)~piece.Length, piece);
                continue;
            }
            bits.Put(last ? 5u : 4u, 3); // BFINAL, BTYPE 10: dynamic codes
            header.Write(ref bits);
            Canonical(lengths, codes);
            bits.PutSymbols(piece, codes, lengths);
            bits.Put(codes[EndOfBlock], lengths[EndOfBlock]);
        }
        bits.AlignToByte();
        return bits.Flush();
    }

    private static void Count(ReadOnlySpan<byte> piece, Span<int> counts)
    {
        Span<int> four = stackalloc int[4 * 256];
        AddCounts(piece, four);
        Fold(four, counts);
    }

    /// <summary>Adds the bytes' counts to four tables of 256, so that runs of one byte do not stall on a single counter.</summary>
    internal static void AddCounts(ReadOnlySpan<byte> bytes, Span<int> four)
    {
        if (four.Length < 4 * 256) throw new ArgumentException("four tables of 256 counts are needed", nameof(four));
        ref int table = ref MemoryMarshal.GetReference(four);
        ref byte input = ref MemoryMarshal.GetReference(bytes);
        int i = 0;
        // Eight bytes a load, each to the table of its place modulo 4.
        for (; i + 8 <= bytes.Length; i += 8)
        {
            ulong v = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref input, i));
            Unsafe.Add(ref table, (int)(v & 0xFF))++;
            Unsafe.Add(ref table, 256 + (int)((v >> 8) & 0xFF))++;
            Unsafe.Add(ref table, 512 + (int)((v >> 16) & 0xFF))++;
            Unsafe.Add(ref table, 768 + (int)((v >> 24) & 0xFF))++;
            Unsafe.Add(ref table, (int)((v >> 32) & 0xFF))++;
            Unsafe.Add(ref table, 256 + (int)((v >> 40) & 0xFF))++;
            Unsafe.Add(ref table, 512 + (int)((v >> 48) & 0xFF))++;
            Unsafe.Add(ref table, 768 + (int)(v >> 56))++;
        }
        for (; i < bytes.Length; i++) four[bytes[i]]++;
    }

    /// <summary>The four tables of <see cref="AddCounts"/> as one.</summary>
    internal static void Fold(ReadOnlySpan<int> four, Span<int> counts)
    {
        for (int b = 0; b < 256; b++) counts[b] = four[b] + four[256 + b] + four[512 + b] + four[768 + b];
    }

    /// <summary>
    /// Huffman code lengths of at most <paramref name="maxBits"/> for the symbols' counts, a complete code over at
    /// least two symbols (inflaters refuse an incomplete one): a lone used symbol gets a partner of count 0.
    /// Ties are broken by symbol number, so the lengths depend on the counts alone.
    /// </summary>
    internal static void CodeLengths(ReadOnlySpan<int> counts, Span<byte> lengths, int maxBits)
    {
        lengths.Clear();
        int n = counts.Length;
        Span<int> order = stackalloc int[n];
        int used = 0;
        for (int s = 0; s < n; s++)
            if (counts[s] > 0) order[used++] = s;
        for (int s = 0; used < 2 && s < n; s++)
            if (counts[s] == 0) order[used++] = s;
        order = order[..used];
        // Ascending by count, then by symbol.
        Span<long> keys = stackalloc long[used];
        for (int k = 0; k < used; k++) keys[k] = ((long)counts[order[k]] << 16) | (uint)order[k];
        keys.Sort();
        for (int k = 0; k < used; k++) order[k] = (int)(keys[k] & 0xFFFF);

        // The two-queue construction: leaves in order, internal nodes made in order of weight.
        Span<long> weight = stackalloc long[2 * used];
        Span<int> parent = stackalloc int[2 * used];
        for (int k = 0; k < used; k++) weight[k] = counts[order[k]];
        int leaf = 0, node = used, next = used;
        for (int made = 0; made < used - 1; made++)
        {
            int a = leaf < used && (node >= next || weight[leaf] <= weight[node]) ? leaf++ : node++;
            int b = leaf < used && (node >= next || weight[leaf] <= weight[node]) ? leaf++ : node++;
            weight[next] = weight[a] + weight[b];
            parent[a] = parent[b] = next;
            next++;
        }
        Span<int> depth = stackalloc int[2 * used];
        depth[next - 1] = 0;
        for (int k = next - 2; k >= 0; k--) depth[k] = depth[parent[k]] + 1;

        // How many codes of each length; codes deeper than the limit are folded in and the Kraft sum repaired.
        Span<int> perLength = stackalloc int[Math.Max(maxBits, used) + 2];
        for (int k = 0; k < used; k++) perLength[Math.Min(depth[k], maxBits)]++;
        long kraft = 0;
        for (int bits = 1; bits <= maxBits; bits++) kraft += (long)perLength[bits] << (maxBits - bits);
        while (kraft > 1L << maxBits)
        {
            // Take a code off the longest length and give a shorter code two children: the sum drops by one.
            perLength[maxBits]--;
            for (int bits = maxBits - 1; bits >= 1; bits--)
            {
                if (perLength[bits] == 0) continue;
                perLength[bits]--;
                perLength[bits + 1] += 2;
                break;
            }
            kraft--;
        }
        // The rarest symbols take the longest codes.
        int at = 0;
        for (int bits = maxBits; bits >= 1; bits--)
            for (int c = 0; c < perLength[bits]; c++) lengths[order[at++]] = (byte)bits;
    }

    /// <summary>Canonical codes for the lengths (RFC 1951 3.2.2), bit-reversed because deflate sends them from the top bit.</summary>
    internal static void Canonical(ReadOnlySpan<byte> lengths, Span<uint> codes)
    {
        Span<int> perLength = stackalloc int[MaxCodeBits + 1];
        foreach (byte l in lengths) perLength[l]++;
        perLength[0] = 0;
        Span<uint> nextCode = stackalloc uint[MaxCodeBits + 1];
        uint code = 0;
        for (int bits = 1; bits <= MaxCodeBits; bits++)
        {
            code = (code + (uint)perLength[bits - 1]) << 1;
            nextCode[bits] = code;
        }
        for (int s = 0; s < lengths.Length; s++)
        {
            int l = lengths[s];
            if (l == 0) continue;
            uint c = nextCode[l]++;
            uint reversed = 0;
            for (int i = 0; i < l; i++) reversed |= ((c >> i) & 1) << (l - 1 - i);
            codes[s] = reversed;
        }
    }

    /// <summary>A dynamic block's code description: the literal lengths, two unused distance codes, run-length coded.</summary>
    private readonly struct BlockHeader
    {
        private readonly byte[] _symbols;
        private readonly byte[] _extra;
        private readonly int _count;
        private readonly byte[] _lengthLengths = new byte[19];
        private readonly int _lengthCodes;

        public BlockHeader(ReadOnlySpan<byte> literalLengths)
        {
            // 257 literal lengths, then 2 distance codes of 1 bit: zlib's rule that at least one distance code
            // exists, and a complete code of two.
            Span<byte> all = new byte[LiteralCodes + 2];
            literalLengths.CopyTo(all);
            all[LiteralCodes] = 1;
            all[LiteralCodes + 1] = 1;
            _symbols = new byte[all.Length];
            _extra = new byte[all.Length];
            int count = 0;
            for (int i = 0; i < all.Length;)
            {
                byte l = all[i];
                int run = 1;
                while (i + run < all.Length && all[i + run] == l) run++;
                i += run;
                if (l == 0)
                {
                    while (run >= 11) { int r = Math.Min(run, 138); _symbols[count] = 18; _extra[count++] = (byte)(r - 11); run -= r; }
                    if (run >= 3) { _symbols[count] = 17; _extra[count++] = (byte)(run - 3); run = 0; }
                }
                else
                {
                    _symbols[count++] = l;
                    run--;
                    while (run >= 3) { int r = Math.Min(run, 6); _symbols[count] = 16; _extra[count++] = (byte)(r - 3); run -= r; }
                }
                while (run-- > 0) _symbols[count++] = l;
            }
            _count = count;
            Span<int> counts = stackalloc int[19];
            for (int k = 0; k < count; k++) counts[_symbols[k]]++;
            CodeLengths(counts, _lengthLengths, MaxLengthCodeBits);
            int lengthCodes = 19;
            while (lengthCodes > 4 && _lengthLengths[LengthCodeOrder[lengthCodes - 1]] == 0) lengthCodes--;
            _lengthCodes = lengthCodes;
            Bits = 5 + 5 + 4 + 3 * lengthCodes;
            for (int k = 0; k < count; k++) Bits += _lengthLengths[_symbols[k]] + ExtraBits(_symbols[k]);
        }

        /// <summary>The size of the description in bits.</summary>
        public int Bits { get; }

        private static int ExtraBits(byte symbol) => symbol switch { 16 => 2, 17 => 3, 18 => 7, _ => 0 };

        public void Write(ref BitWriter bits)
        {
            bits.Put(LiteralCodes - 257, 5); // HLIT
            bits.Put(2 - 1, 5); // HDIST
            bits.Put((uint)(_lengthCodes - 4), 4); // HCLEN
            for (int k = 0; k < _lengthCodes; k++) bits.Put(_lengthLengths[LengthCodeOrder[k]], 3);
            Span<uint> codes = stackalloc uint[19];
            Canonical(_lengthLengths, codes);
            for (int k = 0; k < _count; k++)
            {
                byte s = _symbols[k];
                bits.Put(codes[s], _lengthLengths[s]);
                int extra = ExtraBits(s);
                if (extra > 0) bits.Put(_extra[k], extra);
            }
        }
    }

    /// <summary>Bits packed from the lowest bit of each byte up, as deflate wants them.</summary>
    private ref struct BitWriter(Span<byte> output)
    {
        private readonly Span<byte> _output = output;
        private ulong _buffer;
        private int _count;
        private int _at;

        public void Put(uint value, int bits)
        {
            _buffer |= (ulong)value << _count;
            _count += bits;
            if (_count >= 32) Spill();
        }

        private void Spill()
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_output[_at..], (uint)_buffer);
            _at += 4;
            _buffer >>= 32;
            _count -= 32;
        }

        /// <summary>The bytes of <paramref name="piece"/>, each as its code: the hot loop.</summary>
        public void PutSymbols(scoped ReadOnlySpan<byte> piece, scoped ReadOnlySpan<uint> codes, scoped ReadOnlySpan<byte> lengths)
        {
            // Code and length in one table entry: the code in the low 16 bits, its length above.
            Span<uint> table = stackalloc uint[256];
            int longest = 0;
            for (int b = 0; b < 256; b++)
            {
                table[b] = codes[b] | ((uint)lengths[b] << 16);
                longest = Math.Max(longest, lengths[b]);
            }
            // Whole bytes go out first, so that fewer than 8 bits are held; then each step adds a group of codes
            // and stores all 8 bytes of the buffer at once, keeping only the bits of the last, unfinished byte. A
            // group fits when 7 held bits and the group's codes make at most 64: 4 codes of up to 14 bits, else 3.
            while (_count >= 8)
            {
                _output[_at++] = (byte)_buffer;
                _buffer >>= 8;
                _count -= 8;
            }
            ulong buffer = _buffer;
            int count = _count, at = _at, i = 0;
            ref byte input = ref MemoryMarshal.GetReference(piece);
            ref uint entries = ref MemoryMarshal.GetReference(table);
            ref byte output = ref MemoryMarshal.GetReference(_output);
            // Each store writes 8 bytes from at: the loop stops while they still fit.
            int lastStore = _output.Length - sizeof(ulong);
            int group = longest <= 14 ? 4 : 3;
            for (; i + group <= piece.Length && at <= lastStore; i += group)
            {
                Add(ref buffer, ref count, Unsafe.Add(ref entries, Unsafe.Add(ref input, i)));
                Add(ref buffer, ref count, Unsafe.Add(ref entries, Unsafe.Add(ref input, i + 1)));
                Add(ref buffer, ref count, Unsafe.Add(ref entries, Unsafe.Add(ref input, i + 2)));
                if (group == 4) Add(ref buffer, ref count, Unsafe.Add(ref entries, Unsafe.Add(ref input, i + 3)));
                // Deflate's bits run from the lowest of the first byte up: the buffer's bytes in little-endian order.
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref output, at), BitConverter.IsLittleEndian ? buffer : BinaryPrimitives.ReverseEndianness(buffer));
                int bytes = count >> 3;
                at += bytes;
                buffer >>= bytes << 3;
                count &= 7;
            }
            _buffer = buffer;
            _count = count;
            _at = at;
            for (; i < piece.Length; i++) Put(codes[piece[i]], lengths[piece[i]]);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Add(ref ulong buffer, ref int count, uint entry)
        {
            buffer |= (ulong)(entry & 0xFFFF) << count;
            count += (int)(entry >> 16);
        }

        public void AlignToByte()
        {
            int pad = (8 - (_count & 7)) & 7;
            _count += pad;
            while (_count >= 8)
            {
                _output[_at++] = (byte)_buffer;
                _buffer >>= 8;
                _count -= 8;
            }
        }

        /// <summary>After <see cref="AlignToByte"/>: a stored block's length, its complement and its bytes.</summary>
        public void PutBytes(ushort length, ushort complement, scoped ReadOnlySpan<byte> bytes)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(_output[_at..], length);
            BinaryPrimitives.WriteUInt16LittleEndian(_output[(_at + 2)..], complement);
            _at += 4;
            bytes.CopyTo(_output[_at..]);
            _at += bytes.Length;
        }

        /// <summary>After <see cref="AlignToByte"/>: the length written.</summary>
        public readonly int Flush() => _at;
    }
}
