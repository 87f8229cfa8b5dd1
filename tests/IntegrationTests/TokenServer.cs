using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;

namespace Occystrap.IntegrationTests;

/// <summary>
/// A Docker-style token service on loopback: checks Basic credentials, grants the requested actions
/// (pull only without credentials, when anonymous pulls are allowed) as an RS256 JWT whose <c>kid</c>
/// is the libtrust key id the registry expects. Counts the tokens it issues.
/// </summary>
public sealed class TokenServer : IDisposable
{
    public const string Service = "occystrap-test-registry";
    public const string Issuer = "occystrap-test-issuer";
    private readonly HttpListener _listener = new();
    private readonly RSA _key = RSA.Create(2048);
    private readonly string _kid;
    private readonly bool _anonymousPull;
    private int _issued;

    public TokenServer(bool anonymousPull)
    {
        _anonymousPull = anonymousPull;
        var request = new CertificateRequest("CN=occystrap test token signer", _key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        CertificatePem = cert.ExportCertificatePem();
        _kid = LibtrustKeyId(cert.PublicKey.ExportSubjectPublicKeyInfo());
        int port = RegistryServer.FreePort();
        Realm = $"http://127.0.0.1:{port}/token";
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _ = Task.Run(ServeAsync);
    }

    public string Realm { get; }
    public string CertificatePem { get; }
    public int Issued => _issued;

    /// <summary>Token requests that carried an Authorization header (credentials).</summary>
    public int WithCredentials => _withCredentials;

    private int _withCredentials;

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception) when (!_listener.IsListening)
            {
                return;
            }
            catch (HttpListenerException)
            {
                return;
            }
            try
            {
                Handle(context);
            }
            catch (Exception)
            {
                context.Response.StatusCode = 500;
                context.Response.Close();
            }
        }
    }

    private void Handle(HttpListenerContext context)
    {
        var response = context.Response;
        string? auth = context.Request.Headers["Authorization"];
        if (auth is not null) Interlocked.Increment(ref _withCredentials);
        bool authenticated = false;
        if (auth is not null && auth.StartsWith("Basic ", StringComparison.Ordinal))
        {
            string pair = Encoding.UTF8.GetString(Convert.FromBase64String(auth[6..]));
            if (pair != $"{RegistryServer.User}:{RegistryServer.Password}")
            {
                response.StatusCode = 401;
                response.Close();
                return;
            }
            authenticated = true;
        }
        if (!authenticated && !_anonymousPull)
        {
            response.StatusCode = 401;
            response.Close();
            return;
        }
        var access = new JsonArray();
        foreach (string scope in context.Request.QueryString.GetValues("scope") ?? [])
        {
            var parts = scope.Split(':');
            if (parts.Length != 3) continue;
            var actions = parts[2].Split(',').Where(a => authenticated || a == "pull").Select(a => (JsonNode)JsonValue.Create(a)!).ToArray();
            access.Add(new JsonObject { ["type"] = parts[0], ["name"] = parts[1], ["actions"] = new JsonArray(actions) });
        }
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var claims = new JsonObject
        {
            ["iss"] = Issuer,
            ["sub"] = authenticated ? RegistryServer.User : "",
            ["aud"] = Service,
            ["exp"] = now + 300,
            ["nbf"] = now - 10,
            ["iat"] = now,
            ["jti"] = Guid.NewGuid().ToString("N"),
            ["access"] = access,
        };
        var header = new JsonObject { ["typ"] = "JWT", ["alg"] = "RS256", ["kid"] = _kid };
        string signingInput = B64(Encoding.UTF8.GetBytes(header.ToJsonString())) + "." + B64(Encoding.UTF8.GetBytes(claims.ToJsonString()));
        string jwt = signingInput + "." + B64(_key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        Interlocked.Increment(ref _issued);
        byte[] body = Encoding.UTF8.GetBytes(new JsonObject { ["token"] = jwt, ["access_token"] = jwt, ["expires_in"] = 300 }.ToJsonString());
        response.ContentType = "application/json";
        response.OutputStream.Write(body);
        response.Close();
    }

    private static string B64(byte[] data) => Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>libtrust's key id: base32 of the first 30 bytes of SHA-256(DER SPKI), in groups of four joined by ':'.</summary>
    private static string LibtrustKeyId(byte[] spki)
    {
        byte[] hash = SHA256.HashData(spki)[..30];
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        var sb = new StringBuilder();
        int buffer = 0, bits = 0;
        foreach (byte b in hash)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                sb.Append(alphabet[(buffer >> (bits - 5)) & 31]);
                bits -= 5;
            }
        }
        string s = sb.ToString();
        return string.Join(':', Enumerable.Range(0, s.Length / 4).Select(i => s.Substring(i * 4, 4)));
    }

    public void Dispose()
    {
        // The managed HttpListener may try to rebind its port while closing and fail if another test's
        // listener took it meanwhile; the server is stopped either way.
        try
        {
            _listener.Stop();
            _listener.Close();
        }
        catch (HttpListenerException)
        {
        }
        _key.Dispose();
    }
}
