using Occystrap.Abstractions;

namespace Occystrap.Formats.Tar;

/// <summary>The bytes are not a valid tar archive (bad checksum, truncated, unsupported entry).</summary>
public sealed class TarFormatException : OccystrapException
{
    public TarFormatException(string message) : base(message) { }
}
