using System.Diagnostics.CodeAnalysis;

namespace Occystrap.Abstractions;

/// <summary>A content digest such as <c>sha256:9f86…</c>. Only sha256 and sha512 are accepted.</summary>
public readonly record struct Digest
{
    private Digest(string algorithm, string hex)
    {
        Algorithm = algorithm;
        Hex = hex;
    }

    public string Algorithm { get; }
    public string Hex { get; }

    public static Digest Sha256(string hex) => Parse("sha256:" + hex);

    public static Digest Parse(string text) =>
        TryParse(text, out var d) ? d : throw new OccystrapException($"'{text}' is not a valid digest (expected sha256:<64 hex digits>)");

    public static bool TryParse([NotNullWhen(true)] string? text, out Digest digest)
    {
        digest = default;
        if (text is null) return false;
        int colon = text.IndexOf(':');
        if (colon <= 0) return false;
        string algorithm = text[..colon];
        string hex = text[(colon + 1)..];
        int expected = algorithm switch { "sha256" => 64, "sha512" => 128, _ => -1 };
        if (hex.Length != expected) return false;
        foreach (char c in hex)
            if (c is not (>= '0' and <= '9' or >= 'a' and <= 'f')) return false;
        digest = new Digest(algorithm, hex);
        return true;
    }

    public override string ToString() => Algorithm is null ? "" : $"{Algorithm}:{Hex}";

    /// <summary>The first 12 hex digits, for messages.</summary>
    public string Short => Hex is null ? "" : Hex[..12];
}
