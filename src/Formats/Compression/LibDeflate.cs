using System.Runtime.InteropServices;

namespace Occystrap.Formats.Compression;

/// <summary>
/// The system's libdeflate (Debian: <c>libdeflate0</c>), loaded at first use and called through function pointers.
/// It deflates whole buffers only, which is all a block needs, at about three times the speed of the runtime's
/// zlib-ng. <see cref="Available"/> is false when the library is not there, or when
/// <c>OCCYSTRAP_DEFLATE=zlib</c> asks for the runtime's zlib-ng alone.
/// </summary>
internal static unsafe class LibDeflate
{
    /// <summary>The level for blocks with string matching: on layers, level 1 comes out about 1% larger than zlib-ng's level 3 (decision 0022).</summary>
    public const int Level = 1;

    private static readonly Api? Loaded = Load();

    // One per thread: libdeflate's compressors are not thread-safe. A thread that ends drops its holder, whose
    // finalizer gives the compressor back.
    [ThreadStatic]
    private static Compressor? t_compressor;

    public static bool Available => Loaded is not null;

    /// <summary>The library's file, for the log and the output fingerprint; null when not in use.</summary>
    public static string? LibraryName => Loaded?.Name;

    /// <summary>
    /// Deflates all of <paramref name="input"/> into <paramref name="output"/> as one finished raw deflate stream and
    /// returns its length, or 0 when it does not fit. Each thread keeps its own compressor (they are not thread-safe).
    /// </summary>
    public static int Compress(ReadOnlySpan<byte> input, Span<byte> output)
    {
        var api = Loaded ?? throw new InvalidOperationException("libdeflate is not loaded");
        var compressor = t_compressor ??= new Compressor(api);
        fixed (byte* i = input)
        fixed (byte* o = output)
            return checked((int)api.Compress(compressor.Handle, i, (nuint)input.Length, o, (nuint)output.Length));
    }

    /// <summary>The most bytes <see cref="Compress"/> can produce for <paramref name="length"/> input bytes.</summary>
    public static int Bound(int length)
    {
        var api = Loaded ?? throw new InvalidOperationException("libdeflate is not loaded");
        return checked((int)api.Bound(0, (nuint)length));
    }

    private static Api? Load()
    {
        if (string.Equals(Environment.GetEnvironmentVariable("OCCYSTRAP_DEFLATE")?.Trim(), "zlib", StringComparison.OrdinalIgnoreCase))
            return null;
        foreach (var name in (ReadOnlySpan<string>)["libdeflate.so.0", "libdeflate.0.dylib", "libdeflate.dll"])
        {
            if (!NativeLibrary.TryLoad(name, out nint handle)) continue;
            if (NativeLibrary.TryGetExport(handle, "libdeflate_alloc_compressor", out nint alloc)
                && NativeLibrary.TryGetExport(handle, "libdeflate_deflate_compress", out nint compress)
                && NativeLibrary.TryGetExport(handle, "libdeflate_deflate_compress_bound", out nint bound)
                && NativeLibrary.TryGetExport(handle, "libdeflate_free_compressor", out nint free))
                return new Api(name, (delegate* unmanaged<int, nint>)alloc, (delegate* unmanaged<nint, byte*, nuint, byte*, nuint, nuint>)compress,
                    (delegate* unmanaged<nint, nuint, nuint>)bound, (delegate* unmanaged<nint, void>)free);
            NativeLibrary.Free(handle);
        }
        return null;
    }

    private sealed class Api(string name, delegate* unmanaged<int, nint> alloc, delegate* unmanaged<nint, byte*, nuint, byte*, nuint, nuint> compress,
        delegate* unmanaged<nint, nuint, nuint> bound, delegate* unmanaged<nint, void> free)
    {
        public string Name { get; } = name;
        public nint Alloc(int level) => alloc(level);
        public nuint Compress(nint c, byte* i, nuint n, byte* o, nuint avail) => compress(c, i, n, o, avail);
        public nuint Bound(nint c, nuint n) => bound(c, n);
        public void Free(nint c) => free(c);
    }

    private sealed class Compressor
    {
        private readonly Api _api;

        public Compressor(Api api)
        {
            _api = api;
            Handle = api.Alloc(Level);
            if (Handle == 0) throw new OutOfMemoryException("libdeflate could not allocate a compressor");
        }

        public nint Handle { get; }

        ~Compressor() => _api.Free(Handle);
    }
}
