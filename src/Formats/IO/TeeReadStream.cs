namespace Occystrap.Formats.IO;

/// <summary>Reads through to the inner stream and writes what it reads to a copy (a layer.tar beside its extraction).</summary>
internal sealed class TeeReadStream(Stream inner, Stream copy) : ReadOnlyStream
{
    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        if (n > 0) copy.Write(buffer[..n]);
        return n;
    }
}
