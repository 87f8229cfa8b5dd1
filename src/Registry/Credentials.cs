using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Occystrap.Registry;

public sealed record Credential(string Username, string Password);

/// <summary>
/// Finds the credentials for a registry host, first match wins: the command line
/// (<c>--username/--password</c> or their environment variables), <c>user:pass@</c> in the URI, the Docker
/// config (<c>$DOCKER_CONFIG/config.json</c> or <c>~/.docker/config.json</c>: <c>credHelpers</c>,
/// <c>auths</c>, <c>credsStore</c> through <c>docker-credential-*</c> programs), then <c>REGISTRY_AUTH_FILE</c>
/// and podman's <c>auth.json</c>.
/// </summary>
public static class Credentials
{
    public static Credential? Find(string host, string? username, string? password, ImageReference? reference = null)
    {
        if (username is not null) return new Credential(username, password ?? "");
        if (reference?.Username is { } u) return new Credential(u, reference.Password ?? "");
        foreach (string key in Keys(host))
        {
            string? dockerConfig = Environment.GetEnvironmentVariable("DOCKER_CONFIG") is { Length: > 0 } d
                ? Path.Combine(d, "config.json")
                : Path.Combine(Home, ".docker", "config.json");
            if (FromDockerConfig(dockerConfig, key) is { } c) return c;
        }
        foreach (string file in AuthFiles())
            foreach (string key in Keys(host))
            {
                Credential? found;
                try
                {
                    found = FromAuths(Load(file), key);
                }
                catch (InvalidOperationException)
                {
                    throw new RegistryException($"{file}: the entry for {key} has members of unexpected types; fix or remove it");
                }
                if (found is { } c) return c;
            }
        return null;
    }

    private static string Home => Environment.GetEnvironmentVariable("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

    /// <summary>The names a host may be stored under (Docker Hub has several).</summary>
    private static IEnumerable<string> Keys(string host)
    {
        yield return host;
        yield return "https://" + host;
        yield return "http://" + host;
        if (host is "registry-1.docker.io" or "docker.io" or "index.docker.io")
        {
            yield return "https://index.docker.io/v1/";
            yield return "docker.io";
            yield return "index.docker.io";
        }
    }

    private static IEnumerable<string> AuthFiles()
    {
        if (Environment.GetEnvironmentVariable("REGISTRY_AUTH_FILE") is { Length: > 0 } f) yield return f;
        if (Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is { Length: > 0 } run) yield return Path.Combine(run, "containers", "auth.json");
        yield return Path.Combine(Home, ".config", "containers", "auth.json");
    }

    private static JsonObject? Load(string file)
    {
        try
        {
            return File.Exists(file) ? JsonNode.Parse(File.ReadAllText(file)) as JsonObject : null;
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static Credential? FromDockerConfig(string file, string key)
    {
        var config = Load(file);
        if (config is null) return null;
        try
        {
            return FromDockerConfig(config, key);
        }
        catch (InvalidOperationException)
        {
            // A member of the wrong type (an array where an object belongs, a number where a string does).
            throw new RegistryException($"{file}: the entry for {key} has members of unexpected types; fix or remove it");
        }
    }

    private static Credential? FromDockerConfig(JsonObject config, string key)
    {
        if (config["credHelpers"]?[key]?.GetValue<string>() is { } helper) return FromHelper(helper, key);
        if (FromAuths(config, key) is { } c) return c;
        if (config["credsStore"]?.GetValue<string>() is { Length: > 0 } store && config["auths"]?[key] is not null) return FromHelper(store, key);
        return null;
    }

    private static Credential? FromAuths(JsonObject? config, string key)
    {
        if (config?["auths"]?[key] is not JsonObject entry) return null;
        if (entry["auth"]?.GetValue<string>() is { Length: > 0 } auth)
        {
            string decoded;
            try
            {
                decoded = Encoding.UTF8.GetString(Convert.FromBase64String(auth));
            }
            catch (FormatException)
            {
                return null;
            }
            int colon = decoded.IndexOf(':');
            if (colon > 0) return new Credential(decoded[..colon], decoded[(colon + 1)..]);
        }
        if (entry["username"]?.GetValue<string>() is { } user) return new Credential(user, entry["password"]?.GetValue<string>() ?? "");
        return null;
    }

    /// <summary>Runs <c>docker-credential-NAME get</c> with the host on stdin, as Docker does.</summary>
    private static Credential? FromHelper(string name, string key)
    {
        try
        {
            var psi = new ProcessStartInfo("docker-credential-" + name, "get")
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var p = Process.Start(psi)!;
            p.StandardInput.Write(key);
            p.StandardInput.Close();
            var output = p.StandardOutput.ReadToEndAsync();
            _ = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(30_000))
            {
                p.Kill(entireProcessTree: true);
                throw new RegistryException($"docker-credential-{name} did not answer within 30 s");
            }
            if (p.ExitCode != 0) return null;
            var json = JsonNode.Parse(output.Result);
            string? user = json?["Username"]?.GetValue<string>();
            string? secret = json?["Secret"]?.GetValue<string>();
            return user is null || secret is null ? null : new Credential(user, secret);
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or JsonException or IOException or InvalidOperationException)
        {
            return null;
        }
    }
}
