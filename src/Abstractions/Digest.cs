using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace Occystrap.Abstractions;

/// <summary>
/// A content digest such as <c>sha256:9f86…</c>. Only sha256 and sha512 are accepted. This is the one
/// place that turns bytes into a digest: <see cref="Compute(ReadOnlySpan{byte}, string)"/> for bytes at
/// hand, <see cref="CreateHash"/> for bytes that stream past.
/// </summary>
public readonly record struct Digest
{
    public const string Sha256Algorithm = "sha256";
    public const string Sha512Algorithm = "sha512";

    private Digest(string algorithm, string hex)
    {
        Algorithm = algorithm;
        Hex = hex;
    }

    public string Algorithm { get; }
    public string Hex { get; }

    public static Digest Sha256(string hex) => Parse("sha256:" + hex);

    public static Digest Parse(string text) =>
        TryParse(text, out var d) ? d : throw new OccystrapException($"'{text}' is not a valid digest (expected sha256:<64 hex digits> or sha512:<128 hex digits>)");

    public static bool TryParse([NotNullWhen(true)] string? text, out Digest digest)
    {
        digest = default;
        if (text is null) return false;
        int colon = text.IndexOf(':');
        if (colon <= 0) return false;
        string algorithm = text[..colon];
        string hex = text[(colon + 1)..];
        int expected = algorithm switch { Sha256Algorithm => 64, Sha512Algorithm => 128, _ => -1 };
        if (hex.Length != expected) return false;
        foreach (char c in hex)
            if (c is not (>= '0' and <= '9' or >= 'a' and <= 'f')) return false;
        digest = new Digest(algorithm, hex);
        return true;
    }

    /// <summary>The digest of <paramref name="content"/> under <paramref name="algorithm"/> (sha256 unless said).</summary>
    public static Digest Compute(ReadOnlySpan<byte> content, string algorithm = Sha256Algorithm) => algorithm switch
    {
        Sha256Algorithm => new Digest(Sha256Algorithm, Convert.ToHexStringLower(SHA256.HashData(content))),
        Sha512Algorithm => new Digest(Sha512Algorithm, Convert.ToHexStringLower(SHA512.HashData(content))),
        _ => throw new OccystrapException($"digest algorithm '{algorithm}' is not supported (sha256, sha512)"),
    };

    /// <summary>An incremental hash for bytes that stream past; <see cref="FromHash"/> turns its result into a digest.</summary>
    public static IncrementalHash CreateHash(string algorithm = Sha256Algorithm) => algorithm switch
    {
        Sha256Algorithm => IncrementalHash.CreateHash(HashAlgorithmName.SHA256),
        Sha512Algorithm => IncrementalHash.CreateHash(HashAlgorithmName.SHA512),
        _ => throw new OccystrapException($"digest algorithm '{algorithm}' is not supported (sha256, sha512)"),
    };

    /// <summary>Finishes <paramref name="hash"/> (made by <see cref="CreateHash"/>) and resets it.</summary>
    public static Digest FromHash(IncrementalHash hash) =>
        new(hash.AlgorithmName == HashAlgorithmName.SHA512 ? Sha512Algorithm : Sha256Algorithm, Convert.ToHexStringLower(hash.GetHashAndReset()));

    /// <summary>True when <paramref name="content"/> hashes to this digest, under this digest's algorithm.</summary>
    public bool Matches(ReadOnlySpan<byte> content) => Compute(content, Algorithm) == this;

    /// <summary>Throws <see cref="DigestMismatchException"/> unless <paramref name="content"/> hashes to this digest.</summary>
    public void Verify(ReadOnlySpan<byte> content, string what)
    {
        var actual = Compute(content, Algorithm);
        if (actual != this) throw new DigestMismatchException(what, ToString(), actual.ToString());
    }

    public override string ToString() => Algorithm is null ? "" : $"{Algorithm}:{Hex}";

    /// <summary>The first 12 hex digits, for messages.</summary>
    public string Short => Hex is null ? "" : Hex[..12];
}
